// Package devisetoken is the devise_token_auth-compatible dialect of docs/protocol.md#devisetoken (the seed below is devise_token_auth's token-validation documentation): register, sign_in, validate_token, sign_out and the password reset and change flows, with devise's rotating access-token/client/uid headers.
//
// # Tokens and clients
//
// The access-token is the session token `<userID>.<sessionID>.<secret>` (DESIGN.md) and the
// client is the session's ID: one client is one device session of the user, so "one session
// per (user, client)" holds by construction. The client presented with a token must be that
// token's session ID (compared in constant time). A missing client is devise's "default",
// which names no session here, so a request without a client is refused exactly as devise
// refuses one whose user has no "default" token.
//
// Credentials are read per field, in devise's order: the headers access-token, client and uid;
// then query parameters (redux-token-auth's validate_token); then body parameters
// (redux-token-auth's sign_out sends them in the JSON body); then `Authorization: Bearer
// base64(JSON{access-token,token-type,client,expiry,uid})`. Every decoder is bounded (see
// credentials.go) and fuzzed.
//
// validate_token and PUT password rotate the token in one atomic store step (core.Rotate):
// inside the batch buffer after the last rotation the current token is echoed, never a blank
// header; a token replaced inside the buffer by a racing request is answered with its
// successor, which is current; after the buffer the replaced token is dead. The session's
// idle window is the token lifespan and slides with every authenticated request; the realm's
// absolute session timeout still ends it. The expiry header is the session's deadline.
//
// # Decisions where the seed is silent
//
// docs/protocol.md#devisetoken-where-latch-goes-further lists them for users.
//
//   - Only sessions created by this dialect authenticate here. Rotating another dialect's
//     token would hand a devise client a session the other dialect manages and leave that
//     dialect's client holding a dead token. The dialect is known only once the atomic step
//     has run (a pre-check would double validate_token's cost), so such a token, presented
//     here by whoever holds it, is answered 401 and its own client loses it after the buffer:
//     the holder has ended a session it could have ended anyway. sign_out ends the session its
//     token names whichever dialect created it, for the same reason: ending a session is what
//     every dialect lets a token's holder do, and checking would cost a second round trip.
//   - The uid must be present on every authenticated request. validate_token and PUT password
//     compare it, normalized and in constant time, with the session user's login after the
//     atomic step; a mismatch is 401 and the successor is not handed out. sign_out does not
//     compare it: RevokeSession does not return the user, a comparison would cost a second
//     round trip, and the uid (an email) is not a secret; the 256-bit token is the proof.
//   - sign_in with a client naming a live session of the user in this dialect replaces that
//     device's session (core.SessionOptions.Replaces): the old session ends before the device
//     limit is applied, so a device signing in again is never refused by DenyNew nor evicts
//     another device. The new session has a new client, returned in the headers.
//   - DenyNew past maxDevices answers 401 {"success":false,"errors":["Maximum number of
//     devices reached. Sign out on another device first."]}. The message differs from the bad
//     credentials one, but only a caller who knows the password sees it, and such a caller
//     would otherwise have been signed in: it reveals nothing a success would not.
//   - Registration with realm email confirmation required answers 200 with the user and no
//     auth headers (devise's behaviour for an unconfirmed user); sign_in refuses a pending
//     user with the one bad-credentials answer. A taken email is 422 "has already been taken"
//     as devise says: registration cannot hide it. A closed registration is 422 with a base
//     error. password_confirmation is checked only when sent, as devise does.
//   - POST password needs an email (422 otherwise). Its redirect_url is optional and, when
//     given, must be allowed (422 otherwise); the mail links to the realm's email.resetURL
//     with ?uid=USER_ID&t=TOKEN, because one-time tokens and their mail belong to the core. That
//     page may be this dialect's password/edit itself (with a redirect_url in email.resetURL's
//     own query), or an application page that forwards to password/edit.
//   - GET password/edit takes reset_password_token=<userID>.<secret>, or the mail link's uid
//     and t. redirect_url is required and must be an absolute http(s) URL whose origin
//     (scheme, host and port, default ports ignored) is exactly one of the realm's
//     allowedOrigins or the origin of email.resetURL; no wildcards, no relative URLs, no user
//     info, no backslashes, whitespace, control or non-ASCII bytes. It is checked before the reset token is
//     spent, and every failure is 401. The redirect carries access-token, client, uid, expiry
//     and reset_password=true, plus devise's legacy token and client_id (angular-token and
//     ng-token-auth read those), with devise's repetition of the query after a fragment. The
//     session it creates evicts the oldest device when the user is at the limit, whatever
//     the policy: the token is already spent, and refusing would lose the user's link.
//   - PUT (and PATCH) password needs current_password, as devise does with
//     check_current_password_before_update :password (its default is false): a session
//     alone, perhaps stolen, must not be able to lock the user out. Missing or empty, it is
//     422 {"current_password":["can't be blank"]}; wrong, 422 "is invalid", counted against
//     the brute-force limits like a failed sign-in; both in devise's record-error shape,
//     beside the new password's own errors. The exception is devise's allow_password_change:
//     the session GET password/edit opens may change the password without it, once, within
//     protocols.deviseToken.allowPasswordChangeFor (default 15m) of the redirect; the
//     change spends that leave in one atomic step, so two racing requests cannot both use
//     it, and a current_password sent on that session is still checked.
//     protocols.deviseToken.currentPasswordOptional restores devise's default (the session
//     alone suffices; a current_password sent is still checked). Every change mails the user
//     a notice. The request rotates the token first, so every answer after authentication
//     (200 or 422) carries the new headers.
//   - Malformed bodies are 400, bodies over 64 KiB 413, unknown paths 404 and wrong methods 405,
//     all as {"success":false,"errors":[message]}, devise's render_error shape. A store that
//     cannot be reached is 500 in that shape, never a success, never a deleted session.
package devisetoken
