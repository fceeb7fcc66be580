package account_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/servertest"
)

// SIGTERM lets an in-flight request finish, refuses new connections, and ends no session:
// the next process serves the sessions of the last one.
func TestGracefulShutdown(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	before, u := register(t, s, "restart@example.com")

	// A login whose body is still arriving when the signal comes.
	conn, err := net.Dial("tcp", mustURL(t, s.PublicURL).Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"login":"restart@example.com","password":"` + password + `"}`
	half := len(body) / 2
	_, err = io.WriteString(conn, "POST /account/login HTTP/1.1\r\nHost: latch\r\nContent-Type: application/json\r\n"+
		"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body[:half])
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server is now reading the body
	s.Signal(syscall.SIGTERM)

	// Draining: not ready, and no new connections on the public port.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(s.AdminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 while shutting down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Readiness goes first and the listener closes right after (http.Server.Shutdown's first
	// step, on another goroutine): the port stops accepting within moments, not necessarily
	// by the time /readyz says 503.
	closedBy := time.Now().Add(2 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", mustURL(t, s.PublicURL).Host, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(closedBy) {
			t.Error("the public port still accepts connections during the drain")
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	time.Sleep(300 * time.Millisecond)
	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatalf("the in-flight request's connection was closed: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the in-flight request got no response: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Request, _ = http.NewRequest(http.MethodPost, s.PublicURL+"/account/login", nil)
	if got := wantUser(t, response{Response: resp, Body: data}); got != u {
		t.Errorf("in-flight login = %+v, want %+v", got, u)
	}
	var inflight *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "latch_session" {
			inflight = c
		}
	}
	if inflight == nil {
		t.Fatal("the in-flight login set no cookie")
	}
	if err := s.Wait(20 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM = %v, want status 0", err)
	}

	// A new process on the same Redis serves both sessions.
	next := s.Sibling(t)
	// The jar holds the cookie for the old host:port; present it to the new one.
	old := before.hc.Jar.Cookies(mustURL(t, s.PublicURL))[0]
	for name, cookie := range map[string]string{"registration session": old.Value, "in-flight login session": inflight.Value} {
		r := newBrowser(t, next).do(http.MethodGet, "/account/session", nil, "Cookie", "latch_session="+cookie)
		if got := wantUser(t, r); got != u {
			t.Errorf("%s on the next process = %+v, want %+v", name, got, u)
		}
	}
}
