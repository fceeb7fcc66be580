package devisetoken_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// Past the realm's rate limits, registration and reset requests get 429 in devise's error
// shape {"success":false,"errors":[...]} (devise has no 429 of its own; rack-attack's is the
// usual one in front of it).
func TestRateLimitsAnswerInDeviseShape(t *testing.T) {
	s := start(t, servertest.Options{}, func(c *config.Config) {
		c.RateLimits.Register = config.RateLimit{PerIP: 2, PerLogin: 5}
		c.RateLimits.Forgot = config.RateLimit{PerIP: 100, PerLogin: 2}
	})
	c := newClient(t, s)
	for i := range 2 {
		register(t, c, fmt.Sprintf("devise-flood-%d@example.com", i))
	}
	wantError(t, c.post("/auth", map[string]string{"email": "devise-flood-x@example.com", "password": "correct horse battery"}),
		http.StatusTooManyRequests, "Too many requests. Try again later.")
	for range 2 {
		wantStatus(t, c.post("/auth/password", map[string]string{"email": "devise-flood-0@example.com"}), http.StatusOK)
	}
	wantError(t, c.post("/auth/password", map[string]string{"email": "devise-flood-0@example.com"}),
		http.StatusTooManyRequests, "Too many requests. Try again later.")
}
