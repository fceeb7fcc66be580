// Package socket is the auth server's live-socket layer: it holds the WebSocket connections of
// one replica, indexes them by the session they are bound to, and closes them, on every
// replica at once, when their session ends. It knows no message format: a dialect (reactAuth)
// parses requests in its Handler, binds connections with Conn.Bind, and configures the close
// push the hub sends.
//
// # Connections
//
// Hub.Serve takes an upgraded *websocket.Conn (NewUpgrader gives a suitable upgrader) and
// runs one reader goroutine for it for its whole life: it enforces the read limit and the
// pong deadline and runs the handler for each text message, in order, on a short-lived
// goroutine it waits for, so that the parked reader keeps a small stack. Writes (data frames
// from a bounded queue, pings, the close handshake) are made by a writer goroutine that exists
// only while there is something to write, never more than one per connection (gorilla's
// one-writer rule); one ticker per hub asks for the pings, spread over the ping period. An
// idle socket is thus one parked goroutine and its buffers. Nothing ever waits for a peer: a
// message for a peer whose queue is full drops that peer (its socket is closed), and the
// sender and every other peer go on.
//
// # Sessions
//
// A connection is bound to at most one session; a session may have many connections (tabs).
// Conn.Bind registers its interest before the dialect's check of the session runs, so no end
// of the session can fall between the check and the binding. When a session ends, every
// connection bound to it gets the close push and is unbound. The socket itself stays open by
// default (Config.CloseAfterPush changes that): the reactAuth client stops its socket when it
// returns to guest, and the open socket can carry the next login's resume.
//
// A session ends, for the hub, in three ways:
//   - a revocation from any replica, through Hub.Listen and the store's revocation feed;
//   - its deadline: one timer per session (not per socket, and no polling), after which the
//     hub asks the store, because the idle window may have slid on another replica; only a
//     session the store no longer has is closed, a live one gets its timer moved;
//   - a resync: after any gap in the revocation feed (a reconnect, dropped events, a new
//     subscription), every session bound here is re-checked, at bounded concurrency.
//
// A store that cannot answer ends nothing: the check is retried with back-off. A bound socket
// grants nothing but the close push, while a wrong push would log a user out.
//
// # Shutdown
//
// Hub.Shutdown closes every socket with 1001 (going away) and ends no session: on a rolling
// restart the clients reconnect to another replica and resume.
package socket
