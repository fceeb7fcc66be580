package httpx

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// response408 is the answer to a client that stalled in its request line or headers. No
// dialect is known yet (the path may not have arrived), so it has no body.
const response408 = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

// answerWait bounds the write of response408: a client that stalls its request may not read
// either, and the serving goroutine must not wait on it.
const answerWait = time.Second

// AnswerStalledHeaders makes srv answer a client that stalls in its request line or headers
// with 408 Request Timeout and Connection: close, and returns ln wrapped for srv.Serve. It sets
// srv.ConnState (calling the hook already there, if any); srv must serve plain HTTP/1.1 on the
// returned listener (a raw answer would be garbage inside TLS).
//
// net/http alone answers such a client with 400 or nothing. When ReadHeaderTimeout (or, on a
// kept-alive connection, IdleTimeout) expires, the read of the request fails with a timeout; but
// if part of a line had arrived, bufio.Reader.ReadLine returns that part as a whole line and
// drops the error, and the server then parses, say, "GET /heal" as a request line and answers
// 400 Bad Request. When the cut falls so that the fragment parses, the next read reports the
// timeout and the server closes the connection without a word.
//
// The wrapper watches the reads the server makes between requests (ConnState New and Idle,
// where nothing but a request line and headers is read). When one of them times out after a
// byte of a request has arrived, it writes the 408 itself, half-closes the connection, and
// discards whatever the server writes after it (its 400). When nothing had arrived since the
// previous request, the connection is idle and the server closes it silently, as before; only
// if the server then answers anyway (a cut request that had arrived with the previous one, in
// the same packets) is that answer replaced by the 408. Reads during a request (its body, the
// server's background read) and on hijacked connections (WebSockets) pass through untouched:
// a body too slow is the dialect's 408, in its own shape.
func AnswerStalledHeaders(srv *http.Server, ln net.Listener) net.Listener {
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		if sc, ok := c.(*stallConn); ok {
			sc.setState(state)
		}
		if prev != nil {
			prev(c, state)
		}
	}
	return stallListener{ln}
}

type stallListener struct{ net.Listener }

func (l stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &stallConn{Conn: c}
	sc.betweenRequests.Store(true)
	return sc, nil
}

// stallConn is one connection of a server wrapped by AnswerStalledHeaders.
type stallConn struct {
	net.Conn
	// betweenRequests is set while the server reads a request line and headers, or waits for
	// them (ConnState New and Idle).
	betweenRequests atomic.Bool
	// arrived counts the bytes read since betweenRequests was last set.
	arrived atomic.Int64
	// timedOut is set when a read between requests timed out: the connection is over, and
	// anything the server still writes is replaced by the 408.
	timedOut atomic.Bool
	answer   sync.Once
}

func (c *stallConn) setState(state http.ConnState) {
	switch state {
	case http.StateNew, http.StateIdle:
		c.arrived.Store(0)
		c.betweenRequests.Store(true)
	default:
		c.betweenRequests.Store(false)
	}
}

func (c *stallConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.betweenRequests.Load() {
		return n, err
	}
	arrived := c.arrived.Add(int64(n))
	if err != nil && isTimeout(err) {
		c.timedOut.Store(true)
		if arrived > 0 {
			c.write408()
		}
	}
	return n, err
}

func (c *stallConn) Write(p []byte) (int, error) {
	if c.timedOut.Load() {
		c.write408()
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// CloseWrite half-closes the connection. net/http looks for it on the connections it serves
// (to let a refused client read the refusal before the close), so the wrapper must not hide it.
func (c *stallConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// write408 answers once, then half-closes so the client reads the answer and then EOF.
func (c *stallConn) write408() {
	c.answer.Do(func() {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(answerWait))
		if _, err := io.WriteString(c.Conn, response408); err == nil {
			_ = c.CloseWrite()
		}
	})
}
