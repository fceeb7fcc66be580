// Package reactauth is the @fantaptik/react-auth dialect of docs/protocol.md#reactauth (the seed below is the package's "Server API" tutorial): a form-encoded (or JSON) POST endpoint for login and cookie resume, and a WebSocket whose sockets are bound to sessions and closed, on every replica, when their session ends.
//
// Decisions where the seed is silent (docs/protocol.md#reactauth-where-latch-goes-further lists them for users):
//
//   - HTTP failures are 200 {"success":false,"session":"","user":{}}, as docs/protocol.md#reactauth-http says for
//     login, and also for a well-formed body of an unknown or missing type: the real client
//     does not catch HTTP errors, and a failure it can read is a failure it shows. A malformed
//     body, which the real client never sends, is 400; what the client cannot have caused
//     answers otherwise too, all in the same body shape: 413 for a body over 64 KiB, 408 for a
//     body not sent in time, and 500 when the store cannot answer (fail closed: the client
//     treats any non-2xx as a failure, never as a success), plus the router's 404 and 405 and
//     the 403 of cross-origin protection.
//   - The body is JSON when Content-Type says so (application/json or +json), form-encoded
//     when it says so, and, with no Content-Type or text/plain, JSON if it begins with '{'.
//     Any other media type is malformed, and so is a field of the wrong type or one given
//     twice in a form (which value would the client have meant?).
//   - Login sets the shared session cookie (sessions.cookieName, the account dialect's too)
//     with the realm's SameSite setting (Lax by default), HttpOnly, Path=/, Secure under
//     listen.secureCookies, and then named __Host-<cookieName> unless a cookie domain is set
//     (httpx.SessionCookie); resume reads that name only. It does not end a session the browser's cookie still names: other
//     tabs' sockets may be bound to it, and the client's cross-tab sync would race the push.
//   - The user object is the public user: id, login, email, firstName, lastName, role, and
//     status as a number (0 pending, 1 active, 2 disabled), as the account dialect has it.
//     Pending users may log in, as through the account dialect.
//   - A session token of any dialect is accepted by resume and by the socket: sessions are
//     shared across dialects, so a socket can watch a session created anywhere in the realm.
//
// # Socket
//
// Each text message is one request, in the Id-enveloped form {"id":…,"data":{…}} when it has
// an "id", otherwise in the bare form; the reply takes the request's form. The id may be a
// string or a number and is echoed back as given. Every request gets exactly one reply: one
// whose id cannot be recovered (not JSON, not an object, an id of another type) gets a bare
// {"success":false}. Replies keep the order of requests.
//
//   - socket/resume checks the token in one store round trip (the session's idle window slides,
//     as on any use) and binds the connection: from then on it receives the close push when
//     the session ends, for any reason, on any replica. A failed resume leaves the connection
//     unbound, as the client then goes to guest.
//   - close ends the session as a logout (one revocation, which every bound socket on every
//     replica hears, the requesting one included) and replies success. The replica that
//     handles it pushes close to its own bound sockets of the session at once, before the
//     reply: the client stops its socket as soon as it reads a success. A well-formed token
//     whose session is already over also gets success, as the account dialect's logout: the
//     client asked for the session to be over, and it is. A token that does not parse, or a
//     user.id that is not the token's user, gets failure and ends nothing; so does a store
//     that cannot answer, since the session may still be live.
//   - Origin: a handshake whose Origin is one of the realm's allowedOrigins, or the server's
//     own origin (Origin's host equals Host), is accepted; any other Origin is refused with
//     403 before the upgrade. A handshake without Origin is accepted: browsers always send
//     one on WebSocket handshakes, so its absence means a non-browser client, which no
//     cross-site page can drive, and the socket grants nothing on its own (every request
//     carries its session token; no cookie is used).
//   - The socket keeps no deadline of the HTTP server: net/http clears them on Hijack, and
//     the hub's reader and writer set their own (pong wait, write wait).
package reactauth
