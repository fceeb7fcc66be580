package socket

import (
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// writeBuffers is shared by every upgrader of the process: an idle socket then holds no write
// buffer at all, only while a frame is being written.
var writeBuffers = &sync.Pool{}

// readBufferSize is each connection's read buffer, which an idle socket holds for its whole
// life. 128 bytes is gorilla's floor (a control frame's payload, 125 bytes, must fit) rounded
// up: a message's payload beyond what is buffered is read straight into the message, so a
// larger buffer saves a read call on a request of a few hundred bytes and costs every idle
// socket its size.
const readBufferSize = 128

// NewUpgrader returns an upgrader tuned for many idle sockets: small read buffers, pooled write
// buffers, no compression (a per-connection deflate context costs far more than reactAuth's
// small messages save) and a bounded handshake. checkOrigin decides which origins may connect;
// nil keeps gorilla's same-origin check. Set Subprotocols or Error on the result as needed.
func NewUpgrader(checkOrigin func(*http.Request) bool) *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  1024,
		WriteBufferPool:  writeBuffers,
		CheckOrigin:      checkOrigin,
	}
}
