// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Thins the core's source maps (dist/*.mjs.map) to what a stack trace needs:
 * per generated line, one segment for each run of code from the same
 * original line (the first segment of the run). A frame still maps to the
 * right file and line; its column becomes the start of that run.
 *
 * Why: with source maps on, the first stack trace that passes through
 * dist/hrmr.mjs makes Node parse its map into one JS array per segment and
 * keep it for the life of the process: 34k segments, ~4 MiB of heap, and
 * enough surviving garbage at start-up to double the young generation (a
 * --workers process that logs one setup error sat 8 to 12 MiB above one
 * that did not; docs/benchmarks.md, issue 26). The thinned map has ~6k.
 * Modules' own maps (hrmr build) are left whole.
 *
 * Pure: strings in, strings out.
 */

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUE = new Map([...B64].map((c, i) => [c, i]));

/** Decodes one segment's VLQ fields. */
function decode(seg) {
  const out = [];
  let shift = 0;
  let value = 0;
  for (const c of seg) {
    const d = VALUE.get(c);
    if (d === undefined) throw new Error(`source map: bad VLQ character ${JSON.stringify(c)}`);
    value += (d & 31) << shift;
    if (d & 32) {
      shift += 5;
      continue;
    }
    out.push(value & 1 ? -(value >>> 1) : value >>> 1);
    shift = 0;
    value = 0;
  }
  return out;
}

function encode(fields) {
  let s = '';
  for (const f of fields) {
    let v = f < 0 ? (-f << 1) | 1 : f << 1;
    do {
      let d = v & 31;
      v >>>= 5;
      if (v > 0) d |= 32;
      s += B64[d];
    } while (v > 0);
  }
  return s;
}

/** `mappings` as absolute segments: per generated line, [column, source?, line?, column?, name?]. */
export function parseMappings(mappings) {
  const prev = [0, 0, 0, 0]; // source, original line, original column, name: relative across lines
  return mappings.split(';').map((line) => {
    let col = 0; // generated column: relative within a line
    return line
      .split(',')
      .filter(Boolean)
      .map((seg) => {
        const f = decode(seg);
        col += f[0];
        const abs = [col];
        for (let i = 1; i < f.length; i++) abs.push((prev[i - 1] += f[i]));
        return abs;
      });
  });
}

export function formatMappings(lines) {
  const prev = [0, 0, 0, 0];
  return lines
    .map((segs) => {
      let col = 0;
      return segs
        .map((abs) => {
          const f = [abs[0] - col];
          col = abs[0];
          for (let i = 1; i < abs.length; i++) {
            f.push(abs[i] - prev[i - 1]);
            prev[i - 1] = abs[i];
          }
          return encode(f);
        })
        .join(',');
    })
    .join(';');
}

/** Keeps, per generated line, the first segment of each run from one original (source, line), and unmapped breaks between runs. */
export function slimMappings(mappings) {
  const lines = parseMappings(mappings).map((segs) => {
    const kept = [];
    let last = null;
    for (const s of segs) {
      const same = last !== null && (s.length === 1 ? last.length === 1 : last.length > 1 && last[1] === s[1] && last[2] === s[2]);
      if (same) continue;
      kept.push(s);
      last = s;
    }
    return kept;
  });
  return formatMappings(lines);
}

/** A whole map (JSON text) thinned; `names` kept as they are. */
export function slimSourceMap(json) {
  const map = JSON.parse(json);
  if (typeof map.mappings !== 'string') return json;
  map.mappings = slimMappings(map.mappings);
  return JSON.stringify(map);
}
