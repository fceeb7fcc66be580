package account_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// The brute-force attacks of docs/security.md, played over HTTP against a real server on
// real Redis. Every client reaches the server through loopback, a trusted proxy here, and the
// attacker picks the address it is counted under with X-Forwarded-For, as many addresses as
// it likes (a botnet). The limits are the defaults but for two, made small so the test is
// quick: the progressive delay (1 ms instead of 1 s; the core's tests play the default
// delays on a clock) and, where an address must be locked, maxFailuresPerIP.
func startBruteForceServer(t *testing.T) *servertest.Server {
	t.Helper()
	return servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
		c.BruteForce.TrustedProxies = []string{"127.0.0.0/8"}
		c.BruteForce.Delay = config.D(time.Millisecond)
		c.BruteForce.MaxFailuresPerIP = 20
	}})
}

// attacker sends logins as addr, with no cookie jar: it never signed in, so it holds no
// device cookie.
type attacker struct {
	t    *testing.T
	s    *servertest.Server
	hc   *http.Client
	addr string
}

func newAttacker(t *testing.T, s *servertest.Server, addr string) *attacker {
	return &attacker{t: t, s: s, hc: &http.Client{Timeout: 30 * time.Second}, addr: addr}
}

func (a *attacker) login(login, pw string) response {
	a.t.Helper()
	return servertest.Do(a.t, a.hc, http.MethodPost, a.s.PublicURL+"/account/login",
		map[string]string{"login": login, "password": pw}, "X-Forwarded-For", a.addr)
}

// hashed counts the attempts from addr that reached a user's password and failed.
func hashed(s *servertest.Server, userID, addr string) int {
	return len(s.LogLines(map[string]any{"audit": true, "event": "login", "reason": "wrong_password", "user_id": userID, "client_ip": addr}))
}

// TestGuessingDoesNotLockTheOwnerOut: 1,000 wrong guesses for ada from one address, then more
// from others until the login is locked for strangers. Ada, from the browser she signed in
// on before, still gets in every time; a fresh address gets in while one address's failures
// are all there are, and is refused (like a wrong password) once strangers spent the login's
// budget. At most maxFailuresPerLoginAndIP guesses of one address, and maxFailuresPerLogin
// in all, reach her password.
func TestGuessingDoesNotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	s := startBruteForceServer(t)
	const ada = "ada.guessed@example.com"
	b, u := register(t, s, ada)
	wantUser(t, b.post("/account/login", map[string]string{"login": ada, "password": password})) // her device

	x := newAttacker(t, s, "198.51.100.1")
	for i := range 1000 {
		if r := x.login(ada, fmt.Sprintf("guess-%d", i)); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d %s, want 401", i, r.StatusCode, r.Body)
		}
	}
	if n := hashed(s, u.ID, x.addr); n == 0 || n > 10 {
		t.Errorf("%d of 1,000 guesses from one address reached the password; want 1 to 10 (maxFailuresPerLoginAndIP)", n)
	}
	wantUser(t, b.post("/account/login", map[string]string{"login": ada, "password": password}))

	// One address spends at most its share of the login's budget: a stranger's right
	// password from a fresh address still works.
	y := newAttacker(t, s, "203.0.113.7")
	if r := y.login(ada, password); r.StatusCode != http.StatusOK {
		t.Errorf("ada's password from a fresh address after one address's 1,000 guesses = %d %s, want 200", r.StatusCode, r.Body)
	}

	// More addresses spend the rest of the login's budget (20 failures in the window),
	// pacing their guesses past the login's progressive delays (1 ms, doubling, here).
	for i := range 300 {
		newAttacker(t, s, fmt.Sprintf("198.51.100.%d", 2+i%40)).login(ada, fmt.Sprintf("guess-%d", i))
		time.Sleep(10 * time.Millisecond)
	}
	total := 0
	for i := 1; i < 42; i++ {
		total += hashed(s, u.ID, fmt.Sprintf("198.51.100.%d", i))
	}
	if total != 20 {
		t.Errorf("%d guesses reached the password, want 20 (maxFailuresPerLogin)", total)
	}
	z := newAttacker(t, s, "203.0.113.99")
	if r := z.login(ada, password); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("ada's password from a fresh address once strangers spent the budget = %d %s, want 401 (locked for strangers)", r.StatusCode, r.Body)
	}
	for range 3 {
		wantUser(t, b.post("/account/login", map[string]string{"login": ada, "password": password}))
	}
}

// TestLockedAddressAddsNothing: an address that is locked (it spent its budget on other
// logins) goes on guessing bob's password; none of it counts, so bob, from an address he has
// never used, still gets in.
func TestLockedAddressAddsNothing(t *testing.T) {
	t.Parallel()
	s := startBruteForceServer(t)
	const bob = "bob.target@example.com"
	_, u := register(t, s, bob)

	w := newAttacker(t, s, "198.51.100.50")
	for i := range 20 { // maxFailuresPerIP, spread so that no (login, address) pair locks first
		w.login(fmt.Sprintf("someone-%d@example.com", i%4), "guess")
	}
	for i := range 1000 {
		w.login(bob, fmt.Sprintf("guess-%d", i))
	}
	if n := hashed(s, u.ID, w.addr); n != 0 {
		t.Errorf("%d guesses of a locked address reached bob's password, want 0", n)
	}
	v := newAttacker(t, s, "203.0.113.50")
	if r := v.login(bob, password); r.StatusCode != http.StatusOK {
		t.Errorf("bob's password from a fresh address after a locked address's 1,000 guesses = %d %s, want 200", r.StatusCode, r.Body)
	}
}

// TestIPv6CountedPerSlash64: an attacker spreads its failures over the addresses of one /64;
// the /64 is locked as one address, and the next /64 is not.
func TestIPv6CountedPerSlash64(t *testing.T) {
	t.Parallel()
	s := startBruteForceServer(t)
	const carol = "carol.v6@example.com"
	register(t, s, carol)
	for i := range 20 {
		a := newAttacker(t, s, fmt.Sprintf("2001:db8:7:7::%x", i+1))
		a.login(fmt.Sprintf("someone-%d@example.com", i%4), "guess")
	}
	if r := newAttacker(t, s, "2001:db8:7:7:ffff::beef").login(carol, password); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a new address of the locked /64 = %d %s, want 401", r.StatusCode, r.Body)
	}
	if r := newAttacker(t, s, "2001:db8:7:8::1").login(carol, password); r.StatusCode != http.StatusOK {
		t.Errorf("an address of the next /64 = %d %s, want 200", r.StatusCode, r.Body)
	}
}
