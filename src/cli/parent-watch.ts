// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * `npx hrmr` runs node under npm and a shell (npm exec → sh → node). A
 * SIGTERM to npm ends npm and the shell but not node, which would keep the
 * port under PID 1. So when npm started this process, a change of parent
 * (the shell or npm gone: we were re-parented) shuts the server down. Only
 * under npm: a server detached on purpose (setsid, nohup) keeps running.
 */

/** True when npm (npx, npm start, npm run) started this process. Pure. */
export function startedByNpm(env: NodeJS.ProcessEnv): boolean {
  return env.npm_lifecycle_event !== undefined || env.npm_command !== undefined || env.npm_execpath !== undefined;
}

/** Calls `onGone` once when this process's parent changes; returns a stop function. */
export function watchParent(onGone: () => void, everyMs = 500): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
