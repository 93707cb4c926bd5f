// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The status page (/_hrmr/status): one HTML document, no build step, no
 * external assets. It polls status.json beside it every second and redraws
 * in place; rates are the change of the totals between two polls.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hrmr status</title>
<style>
  :root { color-scheme: light dark; --ok: #2a7; --bad: #c33; --dim: #888; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.2em; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; }
  h2 { font-size: 1.05em; margin: 1.2em 0 .3em; }
  table { border-collapse: collapse; width: 100%; max-width: 1100px; }
  th, td { text-align: left; padding: .2em .6em; border-bottom: 1px solid #8884; vertical-align: top; }
  th { font-weight: 600; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  .tiles { display: flex; flex-wrap: wrap; gap: .6em; }
  .tile { border: 1px solid #8886; border-radius: 6px; padding: .4em .8em; min-width: 8em; }
  .tile b { display: block; font-size: 1.3em; }
  .ok { color: var(--ok); } .bad { color: var(--bad); } .dim { color: var(--dim); }
  code { font-size: .95em; }
  #state { font-size: .85em; }
</style>
</head>
<body>
<h1>hrmr status <span id="state" class="dim">loading…</span></h1>
<div class="tiles" id="tiles"></div>
<h2>Modules</h2>
<table id="modules"><thead><tr><th>Module</th><th>Route</th><th>Kind</th><th class="n">req/s</th><th class="n">total</th><th class="n">failed</th><th class="n">conns</th><th>Draining</th></tr></thead><tbody></tbody></table>
<h2>Workers</h2>
<table id="workers"><thead><tr><th>Worker</th><th>pid</th><th>State</th><th class="n">Uptime</th><th class="n">Connections</th><th class="n">RSS</th><th class="n">Event-loop lag</th><th class="n">Restarts</th></tr></thead><tbody></tbody></table>
<h2>Recent reloads</h2>
<table id="reloads"><thead><tr><th>Time</th><th>Module</th><th>Result</th><th>Version</th><th>Error</th></tr></thead><tbody></tbody></table>
<h2>Errors (last 5 minutes)</h2>
<table id="errors"><thead><tr><th>Time</th><th>Module</th><th>Route</th><th>Outcome</th></tr></thead><tbody></tbody></table>
<script>
'use strict';
let prev = null;
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
function row(cells) { const tr = document.createElement('tr'); for (const c of cells) tr.appendChild(c instanceof Node ? c : el('td', c)); return tr; }
function num(v, cls) { return el('td', v, 'n' + (cls ? ' ' + cls : '')); }
function fill(id, rows) { const tb = $(id).tBodies[0]; tb.replaceChildren(...rows); }
function bytes(b) { if (b == null) return ''; const u = ['B','KiB','MiB','GiB']; let i = 0; while (b >= 1024 && i < 3) { b /= 1024; i++; } return b.toFixed(i ? 1 : 0) + ' ' + u[i]; }
function dur(s) { s = Math.round(s); const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60); return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm ' + (s % 60) + 's'; }
function time(t) { return new Date(t).toLocaleTimeString(); }
function tile(label, value, cls) { const d = el('div', undefined, 'tile'); d.appendChild(el('b', value, cls)); d.appendChild(el('span', label, 'dim')); return d; }
function draw(s) {
  const dt = prev ? (s.time - prev.time) / 1000 : 0;
  const before = new Map();
  if (prev) for (const m of prev.modules) for (const r of m.routes) before.set(m.name + '\\0' + r.route, r.requests);
  const c = s.connections, open = Object.entries(c).filter(([k]) => k !== 'admin' && k !== 'total').reduce((a, [, v]) => a + v, 0) + (c.total || 0);
  let rate = 0;
  for (const m of s.modules) for (const r of m.routes) { const b = before.get(m.name + '\\0' + r.route); if (dt > 0 && b !== undefined) rate += Math.max(0, r.requests - b) / dt; }
  const refused = Object.values(s.refused || {}).reduce((a, v) => a + v, 0);
  $('tiles').replaceChildren(
    tile('uptime', dur(s.uptimeSeconds)),
    tile('connections', open),
    tile('by kind', Object.entries(c).map(([k, v]) => k + ' ' + v).join(', ') || '-'),
    tile('requests/s', rate.toFixed(1)),
    tile('accepted / refused', s.accepted + ' / ' + refused),
    tile('modules', s.modules.length),
    tile('reloads', s.reloads),
    tile('leaked versions', s.leakedVersions, s.leakedVersions ? 'bad' : 'ok'),
    tile('pool queued / running / threads', s.pool ? (s.pool.queued + ' / ' + s.pool.running + ' / ' + s.pool.liveThreads) : '-'),
    tile('pool busy / timeouts', s.pool ? (s.pool.busy + ' / ' + s.pool.timeouts) : '-'),
    tile('errors, last 5 min', s.errorsLast5m, s.errorsLast5m ? 'bad' : 'ok'),
    tile('memory (RSS)', bytes(s.memory && s.memory.rssBytes)),
  );
  const mods = [];
  for (const m of s.modules) {
    const routes = m.routes.length ? m.routes : [{ route: '', kind: '', requests: 0, failed: 0 }];
    routes.forEach((r, i) => {
      const b = before.get(m.name + '\\0' + r.route);
      const rps = dt > 0 && b !== undefined ? Math.max(0, r.requests - b) / dt : 0;
      const name = i === 0 ? el('td', m.label, 'module') : el('td', '');
      if (i === 0) { name.dataset.module = m.name; name.dataset.version = m.version; if (m.swapping) name.appendChild(el('span', ' (swapping)', 'dim')); }
      mods.push(row([name, el('td', r.route), el('td', r.kind, 'dim'), num(rps.toFixed(1)), num(r.requests), num(r.failed, r.failed ? 'bad' : ''), num(i === 0 ? m.connections : ''), el('td', i === 0 && m.draining.length ? m.draining.map((v) => 'v' + v).join(', ') : '', 'dim')]));
    });
  }
  fill('modules', mods);
  const ws = s.workers || [{ worker: 0, pid: s.pid, state: 'ready', uptimeSeconds: s.uptimeSeconds, connections: open, memory: s.memory, restarts: 0 }];
  fill('workers', ws.map((w) => row([el('td', 'worker ' + w.worker, 'worker'), el('td', w.pid), el('td', w.state), num(dur(w.uptimeSeconds || 0)), num(w.connections == null ? '-' : w.connections), num(bytes(w.memory && w.memory.rssBytes)), num(s.eventLoopLagByWorker[String(w.worker)] != null ? (s.eventLoopLagByWorker[String(w.worker)] * 1000).toFixed(1) + ' ms' : '-'), num(w.restarts == null ? '' : w.restarts)])));
  fill('reloads', s.recentReloads.map((r) => row([el('td', time(r.time)), el('td', r.module), el('td', r.result, r.result === 'failed' ? 'bad' : 'ok'), el('td', r.version == null ? '' : 'v' + r.version), el('td', r.error || '', 'bad')])));
  fill('errors', s.recentErrors.map((e) => row([el('td', time(e.time)), el('td', e.module), el('td', e.route), el('td', e.outcome, 'bad')])));
  $('state').textContent = 'live, updated ' + time(s.time) + (s.metrics ? '' : ' (metrics off: no rates)');
  $('state').className = 'ok';
  prev = s;
}
async function poll() {
  try {
    const r = await fetch('status.json', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    draw(await r.json());
  } catch (e) {
    $('state').textContent = 'not updating: ' + e.message;
    $('state').className = 'bad';
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
`;
