// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The in-process half of the hung-module watchdog: a small worker thread
 * that watches the main thread's heartbeat (a timestamp in shared memory).
 * When the main thread has been blocked for half the hang timeout, it asks
 * V8's inspector (which interrupts running JavaScript) to pause the main
 * thread, reads the stack, resumes it, and writes what it saw to the
 * supervisor's side channel with a synchronous write. The supervisor, which
 * kills the worker at the full timeout, logs the module and function.
 *
 * The thread's code is a string (run with `eval: true`) so the built CLI
 * needs no extra entry file.
 */
import { Worker } from 'node:worker_threads';

const THREAD_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const beat = new Float64Array(workerData.sab);
const { staleMs, checkMs, fd } = workerData;
let inspector = null;
try { inspector = require('node:inspector'); } catch {}
let reported = false;
let busy = false;
function write(obj) {
  try { fs.writeSync(fd, JSON.stringify(obj) + '\\n'); } catch {}
}
function capture(age) {
  const done = (frames) => { write({ t: 'stuck', blockedMs: Math.round(age), frames }); busy = false; };
  if (!inspector || typeof inspector.Session.prototype.connectToMainThread !== 'function') return done([]);
  let session;
  try { session = new inspector.Session(); session.connectToMainThread(); } catch { return done([]); }
  const scripts = new Map();
  const close = () => { try { session.disconnect(); } catch {} };
  const timer = setTimeout(() => { close(); done([]); }, 2000);
  session.on('Debugger.scriptParsed', (m) => scripts.set(m.params.scriptId, m.params.url));
  session.once('Debugger.paused', (m) => {
    clearTimeout(timer);
    const frames = m.params.callFrames.slice(0, 24).map((c) => ({
      functionName: c.functionName || '',
      url: c.url || scripts.get(c.location.scriptId) || '',
      line: c.location.lineNumber + 1,
      column: (c.location.columnNumber || 0) + 1,
    }));
    session.post('Debugger.resume', () => session.post('Debugger.disable', close));
    done(frames);
  });
  session.post('Debugger.enable', (err) => {
    if (err) { clearTimeout(timer); close(); return done([]); }
    session.post('Debugger.pause');
  });
}
setInterval(() => {
  const age = Date.now() - beat[0];
  if (age < staleMs) { reported = false; return; }
  if (reported || busy) return;
  reported = true;
  busy = true;
  capture(age);
}, checkMs);
`;

export interface Watchdog {
  /** Call from the main thread's event loop (a timer): "I am alive". */
  beat(): void;
  stop(): Promise<void>;
}

/** Starts the watchdog thread; the main thread must call `beat()` at least every `checkMs`. */
export function startWatchdog(o: { staleMs: number; checkMs: number; fd: number }): Watchdog {
  const sab = new SharedArrayBuffer(8);
  const beat = new Float64Array(sab);
  beat[0] = Date.now();
  const thread = new Worker(THREAD_SOURCE, { eval: true, workerData: { sab, staleMs: o.staleMs, checkMs: o.checkMs, fd: o.fd }, stdout: false, stderr: false });
  thread.unref();
  thread.on('error', () => undefined);
  return {
    beat: () => {
      beat[0] = Date.now();
    },
    stop: async () => {
      await thread.terminate();
    },
  };
}
