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
