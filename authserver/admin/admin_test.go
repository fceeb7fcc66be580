package admin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/admin"
	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

const password = "correct horse battery"

// realm is a running server on real Redis and the admin command pointed at its config.
type realm struct {
	t        *testing.T
	s        *servertest.Server
	auditLog string
}

func newRealm(t *testing.T) *realm {
	s := servertest.Start(t, servertest.Options{})
	return &realm{t: t, s: s, auditLog: filepath.Join(t.TempDir(), "audit.log")}
}

// admin runs `latch admin` in process and returns its exit code, stdout and stderr.
func (r *realm) admin(args ...string) (int, string, string) {
	r.t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{"--config", r.s.ConfigFile(), "--actor", "ops@example.com", "--audit-log", r.auditLog}, args...)
	code := admin.Main(r.t.Context(), full, &out, &errOut)
	return code, out.String(), errOut.String()
}

// ok runs the admin command and fails the test unless it exits 0.
func (r *realm) ok(args ...string) string {
	r.t.Helper()
	code, out, errOut := r.admin(args...)
	if code != 0 {
		r.t.Fatalf("latch admin %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// browser is one client of the realm's account dialect, with its own cookies and user agent.
type browser struct {
	r  *realm
	hc *http.Client
	ua string
}

func (r *realm) browser(ua string) *browser { return &browser{r: r, hc: servertest.Client(), ua: ua} }

func (b *browser) do(method, path string, body any) servertest.Response {
	b.r.t.Helper()
	return servertest.Do(b.r.t, b.hc, method, b.r.s.PublicURL+path, body, "User-Agent", b.ua)
}

func (b *browser) login(login, pw string) int {
	b.r.t.Helper()
	return b.do(http.MethodPost, "/account/login", map[string]string{"login": login, "password": pw}).StatusCode
}

func (b *browser) signedIn() bool {
	b.r.t.Helper()
	return b.do(http.MethodGet, "/account/session", nil).StatusCode == http.StatusOK
}

func (r *realm) register(login string) *browser {
	r.t.Helper()
	b := r.browser("test-register")
	if res := b.do(http.MethodPost, "/account/register", map[string]string{"login": login, "password": password, "firstName": "Ada", "lastName": "Lovelace"}); res.StatusCode != http.StatusOK {
		r.t.Fatalf("register %s: %d %s", login, res.StatusCode, res.Body)
	}
	return b
}

type exportedSession struct {
	ID, Dialect, ClientIP, UserAgent string
}

type exportedUser struct {
	ID, Login, Status string
	HasPassword       *bool
}

func (r *realm) sessions(login string) []exportedSession {
	r.t.Helper()
	var got []exportedSession
	if err := json.Unmarshal([]byte(r.ok("-o", "json", "sessions", "list", "--user", login)), &got); err != nil {
		r.t.Fatal(err)
	}
	return got
}

// Every command against a real server's Redis, checked through the dialect's own HTTP: what
// the admin did is what users meet.
func TestAdminCommands(t *testing.T) {
	r := newRealm(t)
	r.register("ada@example.com")
	r.register("grace@example.com")
	laptop, phone := r.browser("Firefox on a laptop"), r.browser("Safari on a phone")
	for _, b := range []*browser{laptop, phone} {
		if code := b.login("ada@example.com", password); code != http.StatusOK {
			t.Fatalf("login: %d", code)
		}
	}

	// users list: a table with both, a filter, and JSON.
	table := r.ok("users", "list")
	if !strings.Contains(table, "ada@example.com") || !strings.Contains(table, "grace@example.com") || !strings.Contains(table, "Ada Lovelace") {
		t.Errorf("users list:\n%s\nwant both users with their names", table)
	}
	if got := r.ok("users", "list", "--filter", "GRACE"); strings.Contains(got, "ada@") || !strings.Contains(got, "grace@") {
		t.Errorf("users list --filter GRACE:\n%s\nwant grace only", got)
	}
	var users []exportedUser
	if err := json.Unmarshal([]byte(r.ok("-o", "json", "users", "list")), &users); err != nil || len(users) != 2 || users[0].Login != "ada@example.com" {
		t.Fatalf("users list -o json: %+v %v, want the two users sorted by login", users, err)
	}
	ada := users[0]
	if ada.Status != "active" || ada.HasPassword != nil {
		t.Errorf("ada listed as %+v, want active, and nothing said of a password a scan does not read", ada)
	}
	if got := r.ok("users", "show", ada.ID); !strings.Contains(got, "ada@example.com") {
		t.Errorf("users show by ID:\n%s", got)
	}
	var shown []exportedUser
	if err := json.Unmarshal([]byte(r.ok("-o", "json", "users", "show", "ada@example.com")), &shown); err != nil || len(shown) != 1 || shown[0].HasPassword == nil || !*shown[0].HasPassword {
		t.Errorf("users show -o json: %+v %v, want ada with a password", shown, err)
	}

	// sessions list: the register session and the two logins, with where they came from.
	sessions := r.sessions("ada@example.com")
	if len(sessions) != 3 {
		t.Fatalf("ada's sessions: %+v, want 3", sessions)
	}
	agents := map[string]string{}
	for _, s := range sessions {
		if s.Dialect != "account" || s.ClientIP != "127.0.0.1" {
			t.Errorf("session %+v: want account from 127.0.0.1", s)
		}
		agents[s.UserAgent] = s.ID
	}
	if agents["Firefox on a laptop"] == "" || agents["Safari on a phone"] == "" {
		t.Fatalf("sessions' user agents %v, want the laptop's and the phone's", agents)
	}
	if table := r.ok("sessions", "list", "--user", "ada@example.com"); !strings.Contains(table, "Safari on a phone") || !strings.Contains(table, "LAST SEEN") {
		t.Errorf("sessions list table:\n%s", table)
	}

	// sessions revoke --session: the phone is signed out, the laptop is not.
	r.ok("sessions", "revoke", "--user", "ada@example.com", "--session", agents["Safari on a phone"])
	if phone.signedIn() || !laptop.signedIn() {
		t.Fatalf("after revoking the phone's session: phone %v laptop %v, want only the laptop signed in", phone.signedIn(), laptop.signedIn())
	}
	if code, _, errOut := r.admin("sessions", "revoke", "--user", "ada@example.com", "--session", agents["Safari on a phone"]); code != 1 || !strings.Contains(errOut, "no such session") {
		t.Errorf("revoking it again: exit %d %q, want 1 and no such session", code, errOut)
	}

	// users disable: every session ends and no login works; enable lets the user back in.
	r.ok("users", "disable", "ada@example.com")
	if laptop.signedIn() {
		t.Error("a disabled user's session still works")
	}
	if code := laptop.login("ada@example.com", password); code == http.StatusOK {
		t.Error("a disabled user logged in")
	}
	r.ok("users", "enable", "ada@example.com")
	if code := laptop.login("ada@example.com", password); code != http.StatusOK {
		t.Errorf("an enabled user's login: %d", code)
	}

	// sessions revoke --user: all of them.
	phone.login("ada@example.com", password)
	if got := r.ok("sessions", "revoke", "--user", "ada@example.com"); !strings.Contains(got, "ended 2 sessions") {
		t.Errorf("revoke all: %q, want 2 ended", got)
	}
	if laptop.signedIn() || phone.signedIn() {
		t.Error("a session survived revoke --user")
	}

	// reset-link: a link of the realm's reset page that resets the password.
	link := strings.TrimSpace(r.ok("reset-link", "--user", "ada@example.com"))
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, r.s.Config.Email.ResetURL+"?") || u.Query().Get("uid") != ada.ID {
		t.Fatalf("reset link %q, want the realm's reset page for ada", link)
	}
	if res := laptop.do(http.MethodPost, "/account/reset", map[string]string{"id": ada.ID, "token": u.Query().Get("t"), "password": "a brand new password"}); res.StatusCode != http.StatusNoContent {
		t.Fatalf("reset with the admin's link: %d %s", res.StatusCode, res.Body)
	}
	if code := laptop.login("ada@example.com", "a brand new password"); code != http.StatusOK {
		t.Errorf("login with the new password: %d", code)
	}

	// users export: the record and sessions, never a hash.
	export := r.ok("users", "export", "ada@example.com")
	if !strings.Contains(export, `"login": "ada@example.com"`) || !strings.Contains(export, `"sessions"`) || !strings.Contains(export, "Firefox on a laptop") {
		t.Errorf("export:\n%s", export)
	}
	if strings.Contains(export, "argon2") || strings.Contains(strings.ToLower(export), "hash") {
		t.Errorf("export carries a hash:\n%s", export)
	}

	// users delete: gone for the dialect too, and the login can be registered anew.
	r.ok("users", "delete", "ada@example.com")
	if laptop.signedIn() {
		t.Error("a deleted user's session still works")
	}
	if code := laptop.login("ada@example.com", "a brand new password"); code == http.StatusOK {
		t.Error("a deleted user logged in")
	}
	if code, _, errOut := r.admin("users", "show", "ada@example.com"); code != 1 || !strings.Contains(errOut, "no such user") {
		t.Errorf("show a deleted user: exit %d %q", code, errOut)
	}
	r.register("ada@example.com")

	// Every change is an audit event naming the actor; reads are not.
	log, err := os.ReadFile(r.auditLog)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		var ev struct {
			Audit        bool
			Event, Actor string
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil || !ev.Audit || ev.Actor != "ops@example.com" {
			t.Errorf("audit line %q: want an audit event naming the actor", line)
		}
		events[ev.Event]++
	}
	for _, want := range []string{"admin.sessions.revoke", "admin.user.disable", "admin.user.enable", "admin.sessions.revoke_all", "admin.user.reset_link", "admin.user.export", "admin.user.delete"} {
		if events[want] == 0 {
			t.Errorf("no %s audit event in %v", want, events)
		}
	}
	if events["admin.sessions.revoke"] != 2 { // the second one failed, and is audited as such
		t.Errorf("%d admin.sessions.revoke events, want 2", events["admin.sessions.revoke"])
	}
}

// A command line the command cannot read is exit 2 with the usage; nothing is opened.
func TestAdminUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--config", "x"},
		{"--config", "x", "users"},
		{"--config", "x", "users", "frobnicate"},
		{"--config", "x", "users", "show"},
		{"--config", "x", "-o", "yaml", "users", "list"},
		{"--config", "x", "sessions", "revoke", "--session", "s"},
		{"--config", "x", "reset-link"},
	} {
		var out, errOut bytes.Buffer
		if code := admin.Main(t.Context(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "Usage:") {
			t.Errorf("latch admin %q: exit %d, stderr %q; want 2 with the usage", args, code, errOut.String())
		}
	}
}

// An action whose audit event cannot be written is reported as failed (exit 1), never as a
// quiet success: /dev/full refuses every write.
func TestAdminAuditWriteFailureFails(t *testing.T) {
	r := newRealm(t)
	r.register("audit@example.com")
	var out, errOut bytes.Buffer
	code := admin.Main(t.Context(), []string{"--config", r.s.ConfigFile(), "--actor", "ops", "--audit-log", "/dev/full", "users", "show", "audit@example.com"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "audit log") {
		t.Errorf("with an audit log that refuses writes: exit %d, stderr %q; want 1 naming the audit log", code, errOut.String())
	}
}

// An account squatted with someone else's address stays pending through an administrator's
// enable: whoever registered it may not own the mailbox, so only a confirmation (or a reset
// link followed from that mailbox) makes it active. The squatter's password still does not
// log in.
func TestAdminEnableLeavesAPendingAccountPending(t *testing.T) {
	s := servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
		c.Registration.EmailConfirmation = config.ConfirmationRequired
	}})
	r := &realm{t: t, s: s, auditLog: filepath.Join(t.TempDir(), "audit.log")}
	squatter := r.browser("squatter")
	if res := squatter.do(http.MethodPost, "/account/register", map[string]string{"login": "victim@example.com", "password": password}); res.StatusCode != http.StatusOK {
		t.Fatalf("register: %d %s", res.StatusCode, res.Body)
	}
	r.ok("users", "enable", "victim@example.com")
	var shown []exportedUser
	if err := json.Unmarshal([]byte(r.ok("-o", "json", "users", "show", "victim@example.com")), &shown); err != nil || len(shown) != 1 || shown[0].Status != "pending" {
		t.Fatalf("after enable: %+v %v, want the account still pending", shown, err)
	}
	if code := squatter.login("victim@example.com", password); code == http.StatusOK {
		t.Fatal("the squatter logged in after an administrator's enable")
	}
}
