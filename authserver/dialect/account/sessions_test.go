package account_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/dialect/reactauth/reactauthtest"
	"github.com/latchauth/latch/authserver/servertest"
)

type listedSession struct {
	ID, Dialect, ClientIP, UserAgent string
	Current                          bool
}

func listSessions(t *testing.T, b *browser) []listedSession {
	t.Helper()
	r := b.get("/account/sessions")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /account/sessions = %d %s", r.StatusCode, r.Body)
	}
	var body struct{ Sessions []listedSession }
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	return body.Sessions
}

func sessionToken(t *testing.T, b *browser, s *servertest.Server) string {
	t.Helper()
	for _, c := range b.hc.Jar.Cookies(mustURL(t, s.PublicURL)) {
		if c.Name == "latch_session" {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// A user lists where they are signed in, ends a session they do not recognise (its live
// socket, on another replica, gets close at once), then signs out everywhere else; another
// user's sessions are neither listed nor endable.
func TestOwnSessions(t *testing.T) {
	s := servertest.Start(t, servertest.Options{Config: reactauthtest.Enable})
	other := s.Sibling(t)
	laptop, _ := register(t, s, "own@example.com")
	phone, tablet := newBrowser(t, s), newBrowser(t, other)
	for _, b := range []*browser{phone, tablet} {
		wantUser(t, b.post("/account/login", map[string]string{"login": "own@example.com", "password": password}))
	}
	stranger, _ := register(t, s, "stranger@example.com")
	// The tablet's session also holds a live socket, on the other replica.
	socket := reactauthtest.Bind(t, other, sessionToken(t, tablet, s))

	list := listSessions(t, laptop)
	if len(list) != 3 {
		t.Fatalf("listed %+v, want the laptop's, the phone's and the tablet's", list)
	}
	var current, tabletID string
	tabletToken := sessionToken(t, tablet, s)
	for _, l := range list {
		if l.Dialect != "account" || l.ClientIP != "127.0.0.1" || l.UserAgent == "" {
			t.Errorf("session %+v: want account from 127.0.0.1 with its user agent", l)
		}
		if l.Current {
			current = l.ID
		}
		if l.ID == tokenSession(tabletToken) {
			tabletID = l.ID
		}
	}
	if current != tokenSession(sessionToken(t, laptop, s)) || tabletID == "" {
		t.Fatalf("listed %+v: want the laptop's marked current and the tablet's there", list)
	}

	// The stranger can neither see nor end them.
	for _, l := range listSessions(t, stranger) {
		if l.ID == tabletID {
			t.Fatal("another user's session is listed")
		}
	}
	wantError(t, stranger.post("/account/sessions/end", map[string]string{"id": tabletID}), http.StatusNotFound)
	if r := tablet.get("/account/session"); r.StatusCode != http.StatusOK {
		t.Fatalf("the tablet after a stranger's attempt: %d", r.StatusCode)
	}

	// The laptop ends the tablet's session: the tablet is signed out, its socket told so.
	ended := time.Now()
	wantNoContent(t, laptop.post("/account/sessions/end", map[string]string{"id": tabletID}))
	if at := socket.WaitClose(5 * time.Second); at.Sub(ended) > 5*time.Second {
		t.Errorf("close pushed %s after the end", at.Sub(ended))
	}
	wantError(t, tablet.get("/account/session"), http.StatusUnauthorized)
	wantError(t, laptop.post("/account/sessions/end", map[string]string{"id": tabletID}), http.StatusNotFound)

	// Sign out everywhere else: the phone goes, the laptop stays.
	r := laptop.post("/account/sessions/end-others", nil)
	if r.StatusCode != http.StatusOK || string(r.Body) != `{"ended":1}`+"\n" && string(r.Body) != `{"ended":1}` {
		t.Fatalf("end-others = %d %s, want 200 {\"ended\":1}", r.StatusCode, r.Body)
	}
	wantError(t, phone.get("/account/session"), http.StatusUnauthorized)
	if list := listSessions(t, laptop); len(list) != 1 || !list[0].Current {
		t.Fatalf("after end-others: %+v, want the current session only", list)
	}

	// Ending the current session signs the laptop out and drops its cookie.
	r = laptop.post("/account/sessions/end", map[string]string{"id": current})
	wantNoContent(t, r)
	if c := sessionCookie(t, r); c.MaxAge >= 0 {
		t.Errorf("ending the current session left the cookie: %+v", c)
	}
	wantError(t, laptop.get("/account/sessions"), http.StatusUnauthorized)
	wantError(t, laptop.post("/account/sessions/end-others", nil), http.StatusUnauthorized)
}

// tokenSession is the session ID a session token <userID>.<sessionID>.<secret> names.
func tokenSession(tok string) string {
	if parts := strings.Split(tok, "."); len(parts) == 3 {
		return parts[1]
	}
	return ""
}
