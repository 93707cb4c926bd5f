-- wrk script for the relay suite: every request is a produce (POST, 16-byte body).
wrk.method = "POST"
wrk.body = "0123456789abcdef"
wrk.headers["Content-Type"] = "text/plain"
