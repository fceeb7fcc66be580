// Package httpx is the auth server's HTTP plumbing shared by every dialect: the one middleware wrapper (request id, client IP, access log, metrics, panic recovery, body cap), the per-dialect wrapper (CORS, cross-origin protection, 413, read deadline), an exact-path router, and bounded decoders for JSON and form bodies.
package httpx
