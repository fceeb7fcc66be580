// Package keytoken is the key/token/refresh dialect of docs/protocol.md#keytoken (the seed below is its original key/token/refresh authentication guide): registration, login, refresh with rotation and reuse detection, logout, and the signed-in user, with Basic credentials base64(key:token).
//
// Decisions where the seed is silent (docs/protocol.md#keytoken-where-latch-goes-further lists them for users):
//
//   - key is `<userID>.<sessionID>` and token the session's secret, so key + "." + token is
//     the session token of DESIGN.md and any part of the server that takes session tokens
//     (sockets) takes a keyToken session. refresh is a separate 256-bit secret.
//   - The access token lives protocols.keyToken.accessTokenLifespan (default 1 h). The
//     session lives while its refresh token is used within refreshTokenLifespan (default
//     14 d; the idle window, slid by every refresh and every authenticated request), and at
//     most the realm's sessions.absoluteTimeout (default 30 d), after which the user logs in
//     again. "expires" is when the current access token stops working (the earlier of its
//     own expiry and the session's end), RFC 3339 UTC to the second.
//   - A user may hold MaxSessions (10) live sessions of this dialect; a login or
//     registration past that ends the oldest one.
//   - client must be a valid client ID (letters, digits, '-', '_', '.', at most 253) in every
//     request that sends one; with clients.requireRegistered it must also be a registered app
//     client, looked up on every register, login and refresh (so removing the DeviceClient
//     stops new logins and refreshes at once). Anything else is 401 "unknown client". A
//     refresh must come from the client the session was issued to, and is refused (without
//     spending the refresh token) otherwise. Logout reads client but does not check it: the
//     key and token prove possession of the session, and its holder may always end it.
//   - "email" is the login: registration sets both, and login matches it trimmed and
//     case-insensitively. PATCH of email needs the current password in the body's
//     "password" field (the seed's name for the user's password): without it 400, wrong 401
//     "invalid password" (counted against the brute-force limits like a failed login; the
//     session stays valid). A change of case is made at once. A new address (409 when
//     another account holds it) only waits for confirmation: the user answers it as
//     "unconfirmedEmail", a mail with the realm's confirmation link (email.confirmURL,
//     confirmed through the account dialect's /confirm or bearerToken's activation) goes to
//     it, a notice goes to the current address, and the email and login move when the link
//     is used; if another account took the address meanwhile, that fails and nothing moves.
//     The user's status is left alone. PATCH with the current address cancels a waiting
//     change; a password reset cancels it too.
//   - Registration returns credentials at once (201), also when the realm requires email
//     confirmation; a pending account may log in here. Closed registration is 403.
//   - The user of GET and PATCH is {id,email,role,firstName,lastName}, and unconfirmedEmail
//     while an email change waits; role is "user" for an account without one. Registration
//     takes firstName and lastName besides the seed's fields, never a role. PATCH changes
//     email, firstName and lastName; a body with "role", or with "password" but no "email",
//     is 400 rather than silently ignored (passwords change through another dialect's reset
//     flow, roles are not the user's to choose).
//   - Basic credentials and refreshes accept only sessions this dialect issued: other
//     dialects' sessions have no access-token expiry and would bypass it. 401 answers carry
//     no WWW-Authenticate challenge, which would make browsers prompt for a password.
//   - Errors are {"error":"<message>"}; every failed login has the same message.
package keytoken
