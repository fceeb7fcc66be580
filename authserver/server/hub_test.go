package server_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/config"
)

// metricsText returns the admin port's /metrics.
func metricsText(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The process's socket hub: subscribed to revocations while serving, its stats on /metrics,
// and its sockets closed with 1001 (going away) by a shutdown, which Run waits for.
func TestSocketHubWiring(t *testing.T) {
	cfg := testConfig(t)
	cfg.Protocols.ReactAuth = &config.ReactAuth{}
	cfg.Default()
	r := start(t, cfg)

	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(r.public, "http")+"/react-auth/socket", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	defer ws.Close()

	deadline := time.Now().Add(5 * time.Second)
	for {
		m := metricsText(t, r.admin)
		if strings.Contains(m, "\nlatch_socket_revocations_subscribed 1\n") && strings.Contains(m, "\nlatch_socket_connections 1\n") {
			for _, name := range []string{"latch_socket_bound_connections", "latch_socket_bound_sessions",
				"latch_socket_slow_peers_dropped_total", "latch_socket_close_pushes_total", "latch_socket_sessions_ended_total",
				"latch_socket_expiry_checks_total", "latch_socket_resyncs_total"} {
				if !strings.Contains(m, "\n"+name+" ") {
					t.Errorf("/metrics lacks %s", name)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed the subscription and the socket:\n%s", m)
		}
		time.Sleep(20 * time.Millisecond)
	}

	r.cancel() // SIGTERM, as Run sees it
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("socket at shutdown: %v, want close 1001 (going away)", err)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}
