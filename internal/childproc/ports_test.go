package childproc_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/latchauth/latch/internal/childproc"
)

func TestFreePortCanBeBoundAndPortFreeSeesItTaken(t *testing.T) {
	port, err := childproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort = %d", port)
	}
	if got, want := childproc.Loopback(port), "127.0.0.1:"+strconv.Itoa(port); got != want {
		t.Fatalf("Loopback = %q, want %q", got, want)
	}
	if !childproc.PortFree(port) {
		t.Fatalf("PortFree(%d) = false for the port FreePort just returned", port)
	}
	l, err := net.Listen("tcp", childproc.Loopback(port))
	if err != nil {
		t.Fatalf("the free port cannot be bound: %v", err)
	}
	defer l.Close()
	if childproc.PortFree(port) {
		t.Errorf("PortFree(%d) = true while a listener holds it", port)
	}
	other, err := childproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if other == port {
		t.Errorf("FreePort returned %d, which is held", other)
	}
}
