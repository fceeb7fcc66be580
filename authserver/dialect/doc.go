// Package dialect is the contract between the server and the dialects it speaks: what the
// server gives a dialect (Deps), what a dialect gives back (Spec: its error shape, CORS
// headers and routes) and the one row a dialect adds to the server's table (Definition).
//
// The server owns everything a dialect has in common with the others: which dialects are
// enabled and at which prefix (config.Protocols.Enabled), the CORS methods (derived from the
// routes), the cross-origin protection, the body limit and read deadline (httpx.Dialect,
// built here once per dialect), the socket hub (built only when an enabled dialect has
// sockets, with that dialect's push). A dialect package owns its wire format and nothing
// else. What the dialects' handlers share (describing a request to the core, answering an
// internal error, the session cookie, decoding a body) is in dialect/internal/kit.
package dialect
