package childproc

import (
	"fmt"
	"net"
	"strconv"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another program can
// take it before the child binds it; callers that cannot choose the port again retry the
// start (redistest, the bench), and on loopback that is rare enough for the rest.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PortFree reports whether port on 127.0.0.1 can be bound now: for a caller that wants a
// given port (the dev stack's base ports) and skips those another program holds.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", Loopback(port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// Loopback is the host:port of port on 127.0.0.1, where every child listens.
func Loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
