// Package e2e is the end-to-end test of Latch with real clients that no one here wrote.
// TestEndToEnd brings up the whole `make run` stack (hack/devstack: Redis, a local control
// plane, the operator, the dev realm with every dialect, two auth-server replicas run from the
// rendered Deployment) and drives it with the pinned npm packages, unchanged:
//
//   - redux-token-auth 0.19.0 in Node (a Redux store with its reducer and its actions, through
//     its own axios) against the deviseToken dialect of both replicas: a new user's session, and
//     the cutover from devise_token_auth: a devise export (bcrypt passwords, the tokens column)
//     imported with `latch admin import`, the app started with the pre-cutover token devise left
//     in its localStorage comes out signed in on a session of Latch (exchanged once, in that
//     same response), and the old passwords sign in;
//   - @fantaptik/react-auth 0.1.1 with @fantaptik/socket 0.1.0 in headless Chromium (Debian's
//     chromium driven by playwright-core): a page bundled with esbuild renders the package's
//     LoginForm and uses its SocketPlugin with the Id enveloper, one tab per replica.
//
// TestJTokerMailLinks drives j-toker 0.0.10-beta3 (devise_token_auth's jQuery client, with
// jQuery 3.8.0: j-toker calls $.parseJSON, which jQuery 4 removed) in the same Chromium against deviseToken on two `latch server` replicas of one
// realm (servertest's, on one Redis, mailing to servertest's SMTP mailbox): the confirmation and
// password-reset flows, each mailed link followed by the browser on the replica the realm's
// publicURL names, not the one that mailed it.
//
// TestEndToEnd also drives bearerToken with the device token the operator minted and keyToken
// through token, refresh and logout in plain Go, then edits the realm and checks that the
// replicas roll to the new config while every live session, the browser's included, carries on.
//
// The JavaScript side lives in testdata/ (package.json, its lockfile, the scripts and the page):
// the go tool ignores testdata, so nothing under node_modules is taken for a Go package. The
// test installs what is missing itself: `npm ci` when node_modules is absent or older than the
// lockfile, and Debian's chromium with apt-get.
package e2e
