package memory_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/memory"
)

// The store sees only keyed hashes of secrets; callers compute them (DESIGN.md).
var key = []byte("example-token-hash-key-of-32-bytes-or-more")

func hash(secret string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func successor(secret string) string { return hash("rotate:" + secret) }

// Example walks a devise_token_auth client through login, a burst of requests inside the
// batch buffer, a rotation, a request racing it with the old token, and a logout.
func Example() {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	u, _ := s.CreateUser(ctx, store.User{ID: "user-1", Login: "Ada@Example.com", Status: store.StatusActive}, now)
	sess := store.Session{
		ID: "session-1", UserID: u.ID, Dialect: "deviseToken", ClientName: "browser",
		TokenHash: hash("token-0"), IdleTimeout: 14 * 24 * time.Hour, ExpiresAt: now.Add(30 * 24 * time.Hour),
	}
	_, _ = s.CreateSession(ctx, store.NewSession{Session: sess, Limit: store.DeviceLimit{Max: 10}, Now: now})

	// request presents a token at a time and returns the token the response carries.
	request := func(presented string, at time.Time) string {
		res, err := s.RotateSession(ctx, store.Rotation{
			Ref: sess.Ref(), PresentedHash: hash(presented), SuccessorHash: hash(successor(presented)),
			Buffer: 5 * time.Second, Now: at,
		})
		if errors.Is(err, store.ErrInvalidToken) {
			fmt.Println("401")
			return ""
		}
		fmt.Println(res.Outcome, "for", res.User.Login)
		if res.Outcome.ReturnsSuccessor() {
			return successor(presented)
		}
		return presented
	}

	t0 := request("token-0", now.Add(time.Second))       // inside the buffer after login
	t1 := request(t0, now.Add(10*time.Second))           // rotates
	raced := request("token-0", now.Add(11*time.Second)) // a racing request with the old token
	fmt.Println("same token:", raced == t1)
	request("token-0", now.Add(20*time.Second)) // the old token after the buffer

	events, _ := s.SubscribeRevocations(ctx)
	_, _ = s.RevokeSession(ctx, sess.Ref(), hash(t1), store.ReasonLogout, now.Add(time.Minute))
	ev := <-events
	fmt.Println("revoked", ev.Revocation.SessionID, "because", ev.Revocation.Reason)
	// Output:
	// echoed for Ada@Example.com
	// rotated for Ada@Example.com
	// previous-in-buffer for Ada@Example.com
	// same token: true
	// 401
	// revoked session-1 because logout
}
