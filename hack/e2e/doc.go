// Package e2e is the end-to-end test of Latch with real clients that no one here wrote.
// TestEndToEnd brings up what `make run` brings up, on a real single-node Kubernetes on this
// machine (internal/devcluster): the working tree's images, `helm install` of charts/latch,
// the operator as a pod, the dev realm of config/dev (every dialect, two server pods, the
// default managed Redis on a claim) and its device and app clients. It drives it with the
// pinned npm packages, unchanged:
//
//   - redux-token-auth 0.19.0 in Node (a Redux store with its reducer and its actions, through
//     its own axios) against the deviseToken dialect of both server pods: a new user's session,
//     and the cutover from devise_token_auth: a devise export (bcrypt passwords, the tokens
//     column) imported with the real `kubectl latch import` (latch admin in a server pod,
//     through pods/exec), the app started with the pre-cutover token devise left in its
//     localStorage comes out signed in on a session of Latch (exchanged once, in that same
//     response), and the old passwords sign in;
//   - @fantaptik/react-auth 0.1.1 with @fantaptik/socket 0.1.0 in headless Chromium (Debian's
//     chromium driven by playwright-core): a page bundled with esbuild renders the package's
//     LoginForm and uses its SocketPlugin with the Id enveloper, two tabs, each with its socket
//     through the realm's Service, as people reach it.
//
// TestJTokerMailLinks drives j-toker 0.0.10-beta3 (devise_token_auth's jQuery client, with
// jQuery 3.8.0: j-toker calls $.parseJSON, which jQuery 4 removed) in the same Chromium against
// deviseToken on two `latch server` replicas of one realm (servertest's, on one Redis, mailing
// to servertest's SMTP mailbox): the confirmation and password-reset flows, each mailed link
// followed by the browser on the replica the realm's publicURL names, not the one that mailed
// it.
//
// TestEndToEnd also drives bearerToken with the device token the operator minted (read from
// the Secret the DeviceClient names) and keyToken through token, refresh and logout in plain
// Go, then edits the realm and checks that the Deployment controller replaces both server pods
// with pods of the new config while every live session carries on: the browser's tabs
// reconnect through the Service to the new pods and stay signed in, and a logout reaches a
// socket on each new pod.
//
// The JavaScript side lives in testdata/ (package.json, its lockfile, the scripts and the page):
// the go tool ignores testdata, so nothing under node_modules is taken for a Go package. The
// test installs what is missing itself: `npm ci` when node_modules is absent or older than the
// lockfile, and Debian's chromium with apt-get. It needs root, as the node does
// (docs/node.md), and takes turns with the other node tests on the host's lock.
package e2e
