// Package bearertoken is the status-envelope bearer dialect of docs/protocol.md#bearertoken (the seed below is its original document, Caloriosa's user/device authentication design): user tokens from POST /auth, introspection and revocation of user and device tokens, and account activation.
//
// Decisions where the seed is silent (docs/protocol.md#bearertoken-where-latch-goes-further lists them for users):
//
//   - Every response is the seed's envelope {"status":{"code","message"},"content"} but the
//     activation's, which is the seed's bare {"login","email","active":true} with the
//     envelope's "status" beside it (so a client that reads status.code everywhere still
//     reads OK). The seed's codes keep the seed's messages. Answers the seed does not
//     name use codes in its style, after the HTTP status: INVALID_REQUEST (400, malformed
//     body), FORBIDDEN (403), NOT_FOUND (404), METHOD_NOT_ALLOWED (405), REQUEST_TIMEOUT
//     (408), REQUEST_TOO_LARGE (413), INTERNAL_ERROR (500 outside the routes below).
//   - Internal errors are AUTH_FAILED on every method of {prefix}/auth (GET and DELETE
//     authenticate a token too), ACTIVATION_FAILED on activation.
//   - A user token is a session token `<userID>.<sessionID>.<secret>`, a device token is
//     `<clientID>.<secret>`; they are told apart by shape. User tokens live
//     protocols.bearerToken.tokenLifespan (default 24 h) from login, or less when the realm's
//     sessions.idleTimeout is shorter and the token goes unused; "expires" is always the
//     moment the token stops working, as of the answer. Times are RFC 3339 UTC to the second.
//   - A user may hold MaxUserTokens (10) live user tokens of this dialect; a login past that
//     ends the oldest one (it announces a revocation like any other end).
//   - POST /auth refuses users who have not activated their account (pending): the dialect
//     has an activation step. Like every other failure it is 401 INVALID_CREDENTIALS.
//   - GET and DELETE accept only tokens this dialect issued and device tokens. Other dialects'
//     session tokens have the same shape but other lifetimes (a cookie session lives for
//     weeks); a service introspecting a bearer token must not be handed one.
//   - Introspection of a device token adds "client_id" and "roles" (from the operator's
//     registration; roles is [] when there are none). Its "device_id" is the registration's
//     device ID, or the client ID when the registration has none. Its created and expires
//     are the registration's.
//   - DELETE with a valid device token is 403 FORBIDDEN and revokes nothing: the operator is
//     the only writer of device registrations (a device whose token leaked is revoked by
//     rotating its DeviceClient). An invalid one is 401 INVALID_TOKEN like any other.
//   - DELETE of a user token checks it first (one round trip) and then ends the session in
//     one atomic step (a second): two round trips, where a foreign dialect's token is
//     refused without being ended.
//   - Activation takes the token at the top level or in "content"; both present and
//     different is 400 INVALID_REQUEST, none is 400 INVALID_TOKEN. A spent, expired, unknown
//     or malformed token, or one of a disabled account (which stays disabled), is 400
//     INVALID_TOKEN.
//   - Bodies are JSON whatever the Content-Type; unknown fields are ignored.
//   - 401 on GET and DELETE carries `WWW-Authenticate: Bearer error="invalid_token"` (RFC
//     6750); POST /auth failures carry nothing that tells them apart.
package bearertoken
