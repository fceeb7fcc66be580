package keytoken_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/latchauth/latch/authserver/config"
)

// Past rateLimits.register, a registration gets 429 in the dialect's error shape.
func TestRegistrationRateLimitAnswers429(t *testing.T) {
	s := start(t, "/", func(c *config.Config) { c.RateLimits.Register = config.RateLimit{PerIP: 2, PerLogin: 5} })
	c := newClient(t, s)
	for i := range 2 {
		c.register("web", fmt.Sprintf("kt-flood-%d@example.com", i))
	}
	wantError(t, c.do(http.MethodPost, "/users", map[string]string{"client": "web", "email": "kt-flood-x@example.com", "password": password}),
		http.StatusTooManyRequests)
}

// An account holder turns the email change into a mail cannon, asking again and again to move
// to a victim's address: past rateLimits.confirmation.perLogin (the recipient) the change is
// refused with 429 and the victim gets no more mail.
func TestEmailChangeCannotMailBomb(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	a := c.register("web", "cannon@example.com")
	for range 3 {
		wantPendingUser(t, c.do(http.MethodPatch, "/users", map[string]string{"email": "victim@example.com", "password": password}, a.auth()...))
		wantUser(t, c.do(http.MethodPatch, "/users", map[string]string{"email": "cannon@example.com", "password": password}, a.auth()...))
	}
	wantError(t, c.do(http.MethodPatch, "/users", map[string]string{"email": "victim@example.com", "password": password}, a.auth()...),
		http.StatusTooManyRequests)
	s.Mailbox.Wait(t, "victim@example.com", 3)
	if n := s.Mailbox.Count("victim@example.com"); n != 3 {
		t.Errorf("the victim got %d confirmation mails, want 3", n)
	}
}

// The email change answers 409 for an address another user holds: an account holder probing
// which addresses are registered is bounded by rateLimits.confirmation like any other change.
func TestEmailChangeCannotProbeLogins(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	a := c.register("web", "prober@example.com")
	for i := range 3 {
		c.register("web", fmt.Sprintf("taken-%d@example.com", i))
		wantError(t, c.do(http.MethodPatch, "/users", map[string]string{"email": fmt.Sprintf("taken-%d@example.com", i), "password": password}, a.auth()...),
			http.StatusConflict)
	}
	for i := range 17 { // perIP 20, three spent above
		wantPendingUser(t, c.do(http.MethodPatch, "/users", map[string]string{"email": fmt.Sprintf("probe-%d@example.com", i), "password": password}, a.auth()...))
	}
	c.register("web", "taken-late@example.com")
	wantError(t, c.do(http.MethodPatch, "/users", map[string]string{"email": "taken-late@example.com", "password": password}, a.auth()...),
		http.StatusTooManyRequests)
}
