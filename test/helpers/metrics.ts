// SPDX-License-Identifier: LGPL-3.0-or-later
/** Scraping hrmr's /metrics in tests: the raw text, parsed samples, and promtool's verdict. */
import { spawnSync } from 'node:child_process';
import http from 'node:http';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', timeoutMs = 15_000): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        clearTimeout(t);
        resolve({ status: res.statusCode!, headers: res.headers, text });
      });
      res.on('error', reject);
    });
    const t = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms for ${path}`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    req.end();
  });
}

/** GET /metrics (200 expected) and its samples. */
export async function scrape(port: number, path = '/metrics', headers: Record<string, string> = {}): Promise<{ text: string; samples: Sample[] }> {
  const r = await get(port, path, headers);
  if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${r.text}`);
  return { text: r.text, samples: parseSamples(r.text) };
}

export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples named `name` whose labels include `labels`. */
export function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  let n = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) n += s.value;
  }
  return n;
}

export function has(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): boolean {
  return samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** `promtool check metrics` on the text: its exit code and everything it printed. */
export function promtool(text: string): { code: number | null; output: string } {
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
