// Package reactauthtest is the reactAuth dialect's socket client for tests: a socket on a
// servertest server (or any URL) that speaks as the real client (@fantaptik/socket with the Id
// enveloper) does, for the dialect's own tests and the end-to-end test. It lives next to the
// dialect, not in servertest, so that the harness knows nothing of any one dialect.
package reactauthtest
