// SPDX-License-Identifier: LGPL-3.0-or-later
/** Bench module: 5 of the 50 HTTP routes of the dispatch case (bench/suites/http.mjs). */
function hello(req, res) {
  res.end('hello');
}

export default { name: 'r6', routes: [
  { http: '/svc6/r0/', request: hello },
  { http: '/svc6/r1/', request: hello },
  { http: '/svc6/r2/', request: hello },
  { http: '/svc6/r3/', request: hello },
  { http: '/svc6/r4/', request: hello },
] };
