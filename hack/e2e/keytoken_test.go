package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/latchauth/latch/internal/devcluster"
)

// keyCreds are keyToken's credentials: key and token for Basic auth, refresh to renew them.
type keyCreds struct {
	Role    string `json:"role"`
	Key     string `json:"key"`
	Token   string `json:"token"`
	Refresh string `json:"refresh"`
	Expires string `json:"expires"`
	Error   string `json:"error"`
}

// keyLogin takes a keyToken session for the test's user on a replica, as the dev realm's app
// client (the realm requires registered clients; the operator registered this one).
func keyLogin(t *testing.T, e *env, replica int) keyCreds {
	t.Helper()
	r := call(t, http.MethodPost, e.keyAPI(replica, "/users/token"), map[string]string{
		"client": devcluster.DevAppClient, "email": e.user.Email, "password": e.user.Password,
	}, nil)
	var c keyCreds
	r.decode(t, &c)
	if r.Status != http.StatusOK || c.Key == "" || c.Token == "" || c.Refresh == "" {
		t.Fatalf("POST users/token on replica %d: %d %s", replica, r.Status, r.Body)
	}
	return c
}

func keyRefresh(t *testing.T, e *env, replica int, c keyCreds) (int, keyCreds) {
	t.Helper()
	r := call(t, http.MethodPost, e.keyAPI(replica, "/users/token/refresh"), map[string]string{
		"client": devcluster.DevAppClient, "key": c.Key, "refresh": c.Refresh,
	}, nil)
	var n keyCreds
	r.decode(t, &n)
	return r.Status, n
}

// keyMe is GET users with the session's Basic credentials: its status, and the user's id.
func keyMe(t *testing.T, e *env, replica int, c keyCreds) (int, string) {
	t.Helper()
	r := call(t, http.MethodGet, e.keyAPI(replica, "/users"), nil, basic(c.Key, c.Token))
	var u struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	}
	if r.Status == http.StatusOK {
		r.decode(t, &u)
		if u.Email != e.user.Email {
			t.Errorf("GET users on replica %d: email %q, want %q", replica, u.Email, e.user.Email)
		}
	}
	return r.Status, u.ID
}

// testKeyToken drives keyToken across the two replicas: token on one, use and refresh on the
// other, the old access token refused, logout, and reuse detection of a spent refresh token.
func testKeyToken(t *testing.T, e *env) {
	c := keyLogin(t, e, 0)
	access := e.cfg.Protocols.KeyToken.AccessTokenLifespan.Duration
	if exp := parseTime(t, c.Expires); !near(exp, time.Now().Add(access), 5*time.Minute) {
		t.Errorf("token expires %s, want about now + %s", c.Expires, access)
	}
	if code, id := keyMe(t, e, 1, c); code != http.StatusOK || id != e.user.ID {
		t.Fatalf("GET users on replica 1: %d, user %q (want %q)", code, id, e.user.ID)
	}

	// Refresh on replica 1: both secrets rotate, the session (key) stays.
	code, n := keyRefresh(t, e, 1, c)
	if code != http.StatusOK || n.Key != c.Key || n.Token == "" || n.Token == c.Token || n.Refresh == "" || n.Refresh == c.Refresh {
		t.Fatalf("refresh on replica 1: %d %+v (was key %q)", code, n, c.Key)
	}
	if code, _ := keyMe(t, e, 0, c); code != http.StatusUnauthorized {
		t.Errorf("the pre-refresh access token on replica 0: %d, want 401", code)
	}
	if code, _ := keyMe(t, e, 0, n); code != http.StatusOK {
		t.Fatalf("the refreshed access token on replica 0: %d", code)
	}

	// Logout on replica 0 ends the session on both replicas, refresh token included.
	r := call(t, http.MethodDelete, e.keyAPI(0, "/users/token"), map[string]string{"client": devcluster.DevAppClient}, basic(n.Key, n.Token))
	if r.Status != http.StatusNoContent {
		t.Fatalf("DELETE users/token on replica 0: %d %s", r.Status, r.Body)
	}
	for rep := range e.urls {
		if code, _ := keyMe(t, e, rep, n); code != http.StatusUnauthorized {
			t.Errorf("after logout, GET users on replica %d: %d, want 401", rep, code)
		}
	}
	if code, _ := keyRefresh(t, e, 1, n); code != http.StatusUnauthorized {
		t.Errorf("after logout, refresh: %d, want 401", code)
	}

	// Reuse detection: a refresh token presented twice (a stolen copy racing its owner) ends
	// the whole session, the tokens the first use issued included.
	s := keyLogin(t, e, 1)
	code, s2 := keyRefresh(t, e, 0, s)
	if code != http.StatusOK {
		t.Fatalf("refresh of a second session: %d %+v", code, s2)
	}
	if code, _ := keyRefresh(t, e, 1, s); code != http.StatusUnauthorized {
		t.Errorf("reuse of a spent refresh token: %d, want 401", code)
	}
	if code, _ := keyMe(t, e, 0, s2); code != http.StatusUnauthorized {
		t.Errorf("after refresh-token reuse, the session's newest access token: %d, want 401 (session revoked)", code)
	}
	if code, _ := keyRefresh(t, e, 0, s2); code != http.StatusUnauthorized {
		t.Errorf("after refresh-token reuse, the session's newest refresh token: %d, want 401 (session revoked)", code)
	}
}
