// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Bench module: the `hello` handler of http-hello.mjs as an HTTP route on
 * the core's HTTP host (per-request routing), the way modules serve HTTP.
 * Self-contained: hrmr imports a snapshot copy, so no relative imports.
 */
function hello(req, res) {
  res.end('hello');
}

export default { name: 'http-route-hello', routes: [{ http: '/', request: hello }] };
