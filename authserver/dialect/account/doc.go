// Package account is the cookie-session JSON dialect of docs/protocol.md#account (the seed below is the dialect's original public API document): session, login, logout, register, forgot, reset and confirm under one prefix.
//
// Decisions where the seed is silent (docs/protocol.md#account-where-latch-goes-further lists them for users):
//
//   - Registration answers 200 with the User and a session cookie, as the seed says, also when
//     the realm confirms emails (registration.emailConfirmation Optional): the User then has
//     status 0 (pending), and the session works; a pending user may also log in again later
//     and GET /session reports status 0. Under Required a pending user gets no cookie at
//     registration and cannot log in until confirmed, with the failed-login answer (as in
//     every dialect). Disabled users (status 2) can neither log in nor use an existing session.
//   - The confirmation mail of the register row (docs/protocol.md#account-endpoints) is sent
//     when the realm confirms emails (Optional or Required); otherwise the new user is active
//     at once and there is nothing to confirm.
//   - Every registration refusal (closed registration, login taken, weak password) is 401, the
//     seed's "Error instance and code 401 otherwise"; a field the server cannot take (an empty
//     or overlong login, a login that is not an email address when confirmation is required,
//     control characters in a name) is 400, the seed's "one of the fields is malformed". The
//     message for a taken login says only that the login cannot be registered.
//   - reset and confirm answer every failure (unknown, expired or spent token, a password the
//     policy refuses, a confirmed email change whose address another account took meanwhile)
//     with 500 and an Error body, the seed's contract; a body that does not parse, or an id
//     or token that cannot be one of ours, is 400.
//   - confirm also completes an email change asked for elsewhere (keyToken's PATCH users):
//     the token mailed to the new address moves the user's email and login there. A reset
//     cancels an email change still waiting and mails the user a notice (core.Reset).
//   - logout answers 204 and clears the cookie with or without a live session, but 500 when
//     the store cannot be reached: the session may still be live, and saying otherwise would
//     not fail closed.
//   - A login from a browser that still holds a session cookie ends that older session.
//   - Unsafe requests from browser origins the realm does not allow are refused with 403
//     (cross-site request forgery, login CSRF included).
package account
