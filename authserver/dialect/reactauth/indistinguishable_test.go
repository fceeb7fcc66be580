package reactauth_test

import (
	"net/http"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
)

// Every failed authenticate answers the same bytes (status, body, headers but Date and
// X-Request-Id), whatever the cause: a wrong password, an unknown username, a disabled
// account, a locked address. All but the locked one take about the same time; a locked
// attempt answers at once, spending no hash. A pending account is refused the same way once
// the realm requires confirmation.
func TestFailedAuthenticationsAreIndistinguishable(t *testing.T) {
	s := start(t, servertest.RealHashing)
	register(t, s, "victim@example.com")
	register(t, s, "disabled@example.com")
	s.SetUserStatus(t, "disabled@example.com", store.StatusDisabled)
	register(t, s, "pending@example.com")
	s.SetUserStatus(t, "pending@example.com", store.StatusPending)
	s = s.SiblingWith(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	authenticate := func(username, pw string) func(...string) servertest.Response {
		return func(header ...string) servertest.Response {
			r := postForm(t, s, qsStringify("type", "fantaptik/react-auth/authenticate", "username", username, "password", pw), header...)
			return servertest.Response{Response: &http.Response{StatusCode: r.status, Header: r.header}, Body: r.body}
		}
	}
	servertest.LockAddress(t, func(username string, header ...string) servertest.Response {
		return authenticate(username, password)(header...)
	})
	wantFailure(t, postForm(t, s, qsStringify("type", "fantaptik/react-auth/authenticate", "username", "victim@example.com", "password", "wrong")), http.StatusOK)
	servertest.CheckFailedLogins(t,
		servertest.FailedLogin{Name: "wrong password", Attempt: authenticate("victim@example.com", "wrong "+password)},
		servertest.FailedLogin{Name: "unknown username", Attempt: authenticate("ghost@example.com", password)},
		servertest.FailedLogin{Name: "disabled account", Attempt: authenticate("disabled@example.com", password)},
		servertest.FailedLogin{Name: "pending account", Attempt: authenticate("pending@example.com", password)},
		servertest.FailedLogin{Name: "locked address", Untimed: true, Attempt: func(...string) servertest.Response {
			return authenticate("victim@example.com", password)(servertest.FromLockedAddress...)
		}},
	)
}
