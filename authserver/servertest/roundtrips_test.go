package servertest_test

import (
	"net/http"
	"testing"

	"github.com/latchauth/latch/authserver/servertest"
)

// StoreRoundTrips counts what the server does with Redis while its function runs, and
// nothing else.
func TestStoreRoundTrips(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	hc := servertest.Client()
	if n := s.StoreRoundTrips(t, "nothing", func() {}); n != 0 {
		t.Errorf("no request took %v round trips, want 0", n)
	}
	login := func() {
		r := servertest.Do(t, hc, http.MethodPost, s.PublicURL+"/account/login", map[string]string{"login": "nobody@example.com", "password": "wrong"})
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("login = %d %s, want 401", r.StatusCode, r.Body)
		}
	}
	if n := s.StoreRoundTrips(t, "failed login", login); n < 1 {
		t.Errorf("a failed login took %v round trips, want some (the lockout checks, the lookup)", n)
	}
}
