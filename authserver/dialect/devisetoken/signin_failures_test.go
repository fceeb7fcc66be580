package devisetoken_test

import (
	"net/http"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
)

// Beyond TestSignInFailuresIndistinguishable's bytes: the accounts that exist but may not
// sign in (disabled, pending: this dialect lets only active accounts in) and a locked address
// answer a wrong password's bytes too, and a wrong password, an unknown email, a disabled and
// a pending account take about the same time. A locked attempt answers at once, spending no
// hash.
func TestSignInFailuresTakeTheSameTime(t *testing.T) {
	s := start(t, servertest.Options{}, servertest.RealHashing)
	register(t, newClient(t, s), "victim@example.com")
	register(t, newClient(t, s), "disabled@example.com")
	s.SetUserStatus(t, "disabled@example.com", store.StatusDisabled)
	register(t, newClient(t, s), "pending@example.com")
	s.SetUserStatus(t, "pending@example.com", store.StatusPending)
	s = s.SiblingWith(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	c := newClient(t, s)
	signIn := func(email, pw string) func(...string) response {
		return func(header ...string) response {
			return c.post("/auth/sign_in", map[string]string{"email": email, "password": pw}, header...)
		}
	}
	servertest.LockAddress(t, func(email string, header ...string) response { return signIn(email, password)(header...) })
	ref := signIn("victim@example.com", "wrong "+password)()
	wantError(t, ref, http.StatusUnauthorized, msgBadCredentials)
	wantNoCreds(t, ref)
	servertest.CheckFailedLogins(t,
		servertest.FailedLogin{Name: "wrong password", Attempt: signIn("victim@example.com", "wrong "+password)},
		servertest.FailedLogin{Name: "unknown email", Attempt: signIn("ghost@example.com", password)},
		servertest.FailedLogin{Name: "disabled account", Attempt: signIn("disabled@example.com", password)},
		servertest.FailedLogin{Name: "pending account", Attempt: signIn("pending@example.com", password)},
		servertest.FailedLogin{Name: "locked address", Untimed: true, Attempt: func(...string) response {
			return signIn("victim@example.com", password)(servertest.FromLockedAddress...)
		}},
	)
}
