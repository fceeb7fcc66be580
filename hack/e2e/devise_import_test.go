package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchauth/latch/authserver/token"
	"github.com/latchauth/latch/internal/kubenode"
)

// adminTimeout bounds one `kubectl latch` run (an import of a few users is under a second; the
// first run builds the plugin).
const adminTimeout = 2 * time.Minute

// deviseCost is the bcrypt cost of the export's hashes: devise_token_auth's default token_cost.
// devise's password stretches default to 12, which the -race servers take seconds to check;
// the cost changes the time of a check, not its path.
const deviseCost = 10

// devise's own random strings (client IDs, tokens): SecureRandom.urlsafe_base64(nil, false).
func deviseRandom() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// deviseUser is a user of the devise app before the cutover, as its users table held it.
type deviseUser struct {
	Email, Password, Name string
	Confirmed             bool
	// Client and Token are a devise client's current credentials (empty: no client holds a
	// token); Expiry is devise's expiry of it, in Unix seconds.
	Client, Token string
	Expiry        int64
	// ExpiredClient holds a token that expired before the cutover, which devise had not pruned.
	ExpiredClient string
}

// stored is what redux-token-auth left in the app's localStorage from the devise app's last
// response to this client: devise_token_auth's five auth headers.
func (u deviseUser) stored() map[string]string {
	return map[string]string{
		"access-token": u.Token, "client": u.Client, "uid": u.Email,
		"expiry": strconv.FormatInt(u.Expiry, 10), "token-type": "Bearer",
	}
}

// writeDeviseExport writes users as `\copy users TO 'users.csv' CSV HEADER` writes
// devise_token_auth's users table: bcrypt password hashes, and the tokens column holding, per
// client ID, the bcrypt of the token with its expiry, as devise_token_auth's
// create_new_auth_token stores them.
func writeDeviseExport(t *testing.T, path string, users []deviseUser) {
	t.Helper()
	rows := make([][]string, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			pw, err := bcrypt.GenerateFromPassword([]byte(u.Password), deviseCost)
			if err != nil {
				t.Error(err)
				return
			}
			tokens := map[string]any{}
			if u.Client != "" {
				h, err := bcrypt.GenerateFromPassword([]byte(u.Token), deviseCost)
				if err != nil {
					t.Error(err)
					return
				}
				tokens[u.Client] = map[string]any{"token": string(h), "expiry": u.Expiry, "last_token": nil, "updated_at": "2026-01-05T09:30:00.000Z"}
			}
			if u.ExpiredClient != "" {
				h, err := bcrypt.GenerateFromPassword([]byte(deviseRandom()), bcrypt.MinCost)
				if err != nil {
					t.Error(err)
					return
				}
				tokens[u.ExpiredClient] = map[string]any{"token": string(h), "expiry": time.Now().Add(-24 * time.Hour).Unix(), "last_token": nil, "updated_at": "2025-11-20T18:00:00.000Z"}
			}
			tj, err := json.Marshal(tokens)
			if err != nil {
				t.Error(err)
				return
			}
			confirmed := ""
			if u.Confirmed {
				confirmed = "2025-09-01 12:00:00.123456"
			}
			rows[i] = []string{strconv.Itoa(i + 1), "email", u.Email, u.Email, string(pw), confirmed, u.Name, string(tj), "2025-09-01 11:59:00.000000"}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	must(t, "write the export", w.Write([]string{"id", "provider", "uid", "email", "encrypted_password", "confirmed_at", "name", "tokens", "created_at"}))
	must(t, "write the export", w.WriteAll(rows))
	must(t, "write the export", os.WriteFile(path, b.Bytes(), 0o600))
}

// kubectlLatch runs the real `kubectl latch -n <dev namespace> --realm dev -o json args…` as
// the node's admin, to its end within adminTimeout, and returns its standard output: `latch
// admin` in a server pod, through pods/exec, where the realm's Redis resolves.
func kubectlLatch(t *testing.T, e *env, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), adminTimeout)
	defer cancel()
	out, err := e.cluster.KubectlLatch(ctx, args...)
	must(t, "kubectl latch", err)
	return out
}

// rtaPlanStep is one step of redux-token-auth.mjs's resume mode.
type rtaPlanStep struct {
	Step     string `json:"step"`
	Do       string `json:"do"` // verifyCredentials, signIn or signOut
	Replica  int    `json:"replica"`
	Email    string `json:"email,omitempty"`
	Password string `json:"password,omitempty"`
	AfterMs  int64  `json:"afterMs,omitempty"`
}

// rtaResume starts the app anew (redux-token-auth.mjs in its resume mode) with stored in its
// localStorage, runs plan, and returns the package's steps, printed if the test fails.
func rtaResume(t *testing.T, e *env, what string, stored map[string]string, plan []rtaPlanStep) []rtaStep {
	t.Helper()
	out, err := runScript(t.Context(), jsDir, "redux-token-auth.mjs", map[string]any{
		"replicas": e.urls,
		"prefix":   prefix(e.cfg.Protocols.DeviseToken.Prefix),
		"stored":   stored,
		"plan":     plan,
	})
	must(t, "redux-token-auth: "+what, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redux-token-auth report (%s):\n%s", what, indentJSON(out))
		}
	})
	var res struct {
		Steps []rtaStep `json:"steps"`
	}
	must(t, "decode the script's report", json.Unmarshal(out, &res))
	if len(res.Steps) != len(plan) {
		t.Fatalf("%s: %d steps reported, want %d", what, len(res.Steps), len(plan))
	}
	return res.Steps
}

// wantRTA checks that a step of the package made exactly the one request it makes for it, to
// the replica meant, answered status, that the package dispatched its action, and that the app
// is signed in (or not) after it.
func wantRTA(t *testing.T, e *env, s rtaStep, method, path string, status int, action string, signedIn bool) {
	t.Helper()
	if s.Error != nil {
		t.Fatalf("%s on replica %d: the package threw %s (HTTP %v, body %s)", s.Step, s.Replica, s.Error.Message, deref(s.Error.Status), s.Error.Body)
	}
	url := e.devise(s.Replica, path)
	var reqs []string
	for _, r := range s.Requests {
		reqs = append(reqs, fmt.Sprintf("%s %s answered %d", r.Method, r.URL, deref(r.Status)))
	}
	if len(s.Requests) != 1 || s.Requests[0].Method != method || s.Requests[0].URL != url || deref(s.Requests[0].Status) != status ||
		!slices.Contains(s.Actions, rtaAction+action) || s.IsSignedIn != signedIn {
		t.Fatalf("%s on replica %d: the package made the requests %q, dispatched %v and is signed in: %t; want one %s %s answered %d, %s, signed in: %t",
			s.Step, s.Replica, reqs, s.Actions, s.IsSignedIn, method, url, status, action, signedIn)
	}
}

// wantSession checks that the package holds a deviseToken session of this realm for u: a
// session token of this server, its client the session's ID, every header set, the user's
// attributes in the store.
func wantSession(t *testing.T, e *env, s rtaStep, u deviseUser) {
	t.Helper()
	tok := s.header("access-token")
	parsed, err := token.ParseSessionToken(tok)
	if err != nil || s.header("client") != parsed.SessionID {
		t.Fatalf("%s: the package holds access-token %q client %q, want a session token of this server whose session is the client (%v)", s.Step, tok, s.header("client"), err)
	}
	if s.header("uid") != u.Email || s.header("token-type") != "Bearer" {
		t.Fatalf("%s: uid %q token-type %q, want %s and Bearer", s.Step, s.header("uid"), s.header("token-type"), u.Email)
	}
	lifespan := e.cfg.Protocols.DeviseToken.TokenLifespan.Duration
	if exp := unixHeader(t, s, "expiry"); !near(exp, time.Now().Add(lifespan), 5*time.Minute) {
		t.Fatalf("%s: expiry %s, want about now + %s", s.Step, fmtTime(exp), lifespan)
	}
	first, last, _ := strings.Cut(u.Name, " ")
	for k, v := range map[string]string{"email": u.Email, "uid": u.Email, "firstName": first, "lastName": last} {
		if got := s.attr(k); got != v {
			t.Fatalf("%s: attribute %s = %q, want %q", s.Step, k, got, v)
		}
	}
	if s.attr("id") == "" {
		t.Fatalf("%s: the user has no id attribute", s.Step)
	}
}

// testReduxTokenAuthImported is the cutover from devise_token_auth as a redux-token-auth app
// lives it. A devise export (bcrypt passwords, the tokens column with a token of a known
// client) is imported with `kubectl latch import` (latch admin in a server pod); then the
// real package, started anew with the pre-cutover token devise left in its localStorage,
// validates it on replica 0 and comes out signed in, its headers exchanged for a session of
// Latch in that same response, which then validates on replica 1 and rotates. A copy of the
// pre-cutover storage is refused (the token is exchanged once) and signs in with the old
// password; a user who signed in with the password first keeps the devise app's session too.
func testReduxTokenAuthImported(t *testing.T, e *env) {
	buffer := e.cfg.Protocols.DeviseToken.BatchRequestBuffer.Duration
	dir := t.TempDir()
	expiry := time.Now().Add(14 * 24 * time.Hour).Unix() // devise_token_auth's token_lifespan
	grace := deviseUser{Email: "grace.devise@example.com", Password: "devise-era-" + deviseRandom(), Name: "Grace Hopper", Confirmed: true,
		Client: deviseRandom(), Token: deviseRandom(), Expiry: expiry, ExpiredClient: deviseRandom()}
	alan := deviseUser{Email: "alan.devise@example.com", Password: "devise-era-" + deviseRandom(), Name: "Alan Turing", Confirmed: true,
		Client: deviseRandom(), Token: deviseRandom(), Expiry: expiry}
	// Never confirmed, in a realm that does not confirm addresses: imported active.
	edsger := deviseUser{Email: "edsger.devise@example.com", Password: "devise-era-" + deviseRandom(), Name: "Edsger Dijkstra"}

	begin := time.Now()
	file := filepath.Join(dir, "users.csv")
	writeDeviseExport(t, file, []deviseUser{grace, alan, edsger})
	generated := time.Since(begin)

	// The import, as an operator runs it.
	began := time.Now()
	out := kubectlLatch(t, e, "import", file, "--format", "devise-csv")
	imported := time.Since(began)
	var res struct {
		Counts map[string]int `json:"counts"`
		Errors []string       `json:"errors"`
	}
	must(t, "decode the import's output "+string(out), json.Unmarshal(out, &res))
	want := map[string]int{"read": 3, "created": 3, "pending": 0, "skipped": 0, "failed": 0, "tokens": 2, "expiredTokens": 1}
	for k, v := range want {
		if res.Counts[k] != v || len(res.Errors) != 0 {
			t.Fatalf("import: counts %v, errors %v; want %v", res.Counts, res.Errors, want)
		}
	}
	// The audit event, in the pod's log, names who imported as the API server knows them.
	_, err := e.cluster.AuditEvent(t.Context(), began, "admin.import", `"actor":"`+kubenode.AdminUser+`"`)
	must(t, "the import's audit event", err)

	// Grace's app starts after the cutover with what devise left in its localStorage.
	steps := rtaResume(t, e, "Grace's app with the pre-cutover token", grace.stored(), []rtaPlanStep{
		{Step: "startWithImportedToken", Do: "verifyCredentials", Replica: 0},
		{Step: "validateExchanged", Do: "verifyCredentials", Replica: 1},
		{Step: "validateRotated", Do: "verifyCredentials", Replica: 0, AfterMs: (buffer + 500*time.Millisecond).Milliseconds()},
	})
	exchanged, echoed, rotated := steps[0], steps[1], steps[2]
	wantRTA(t, e, exchanged, "GET", "/validate_token", 200, "VERIFY_TOKEN_REQUEST_SUCCEEDED", true)
	wantSession(t, e, exchanged, grace)
	if exchanged.header("access-token") == grace.Token || exchanged.header("client") == grace.Client {
		t.Fatalf("%s: the package still holds devise's token or client (%q, %q)", exchanged.Step, exchanged.header("access-token"), exchanged.header("client"))
	}
	// The exchanged session is an ordinary one: on the other replica, inside the buffer, its
	// token is echoed; past it, it rotates within the same client.
	wantRTA(t, e, echoed, "GET", "/validate_token", 200, "VERIFY_TOKEN_REQUEST_SUCCEEDED", true)
	wantSession(t, e, echoed, grace)
	if echoed.header("access-token") != exchanged.header("access-token") || echoed.header("client") != exchanged.header("client") {
		t.Fatalf("%s: token %q client %q, want the exchanged ones echoed", echoed.Step, echoed.header("access-token"), echoed.header("client"))
	}
	wantRTA(t, e, rotated, "GET", "/validate_token", 200, "VERIFY_TOKEN_REQUEST_SUCCEEDED", true)
	wantSession(t, e, rotated, grace)
	if rotated.header("access-token") == exchanged.header("access-token") || rotated.header("client") != exchanged.header("client") {
		t.Fatalf("%s past the %s buffer: token %q client %q, want a new token of client %q", rotated.Step, buffer, rotated.header("access-token"), rotated.header("client"), exchanged.header("client"))
	}
	var sessions []struct {
		ID, Dialect string
	}
	must(t, "decode sessions list", json.Unmarshal(kubectlLatch(t, e, "sessions", "list", "--user", grace.Email), &sessions))
	if len(sessions) != 1 || sessions[0].ID != exchanged.header("client") || sessions[0].Dialect != "deviseToken" {
		t.Fatalf("kubectl latch sessions list --user %s: %+v, want the one deviseToken session %s", grace.Email, sessions, exchanged.header("client"))
	}

	// A copy of the pre-cutover storage, past the buffer: the token was exchanged once, so this
	// app is signed out, and its user signs in with the password devise hashed.
	steps = rtaResume(t, e, "a copy of Grace's pre-cutover storage", grace.stored(), []rtaPlanStep{
		{Step: "startWithSpentToken", Do: "verifyCredentials", Replica: 1},
		{Step: "signInWithDevisePassword", Do: "signIn", Replica: 0, Email: grace.Email, Password: grace.Password},
	})
	refused, signIn := steps[0], steps[1]
	wantRTA(t, e, refused, "GET", "/validate_token", 401, "VERIFY_TOKEN_REQUEST_FAILED", false)
	if refused.header("access-token") != grace.Token {
		t.Fatalf("%s: the package's storage changed to %v on a refusal", refused.Step, refused.Headers)
	}
	wantRTA(t, e, signIn, "POST", "/sign_in", 200, "SIGNIN_REQUEST_SUCCEEDED", true)
	wantSession(t, e, signIn, grace)
	if signIn.header("client") == rotated.header("client") {
		t.Fatalf("%s: the sign-in took over the exchanged session %s", signIn.Step, signIn.header("client"))
	}

	// Grace's first app, reloaded, still holds its session; it signs out, and Alan signs in on it
	// with his devise password.
	steps = rtaResume(t, e, "Grace's app reloaded", rotated.stored(), []rtaPlanStep{
		{Step: "reloadExchangedSession", Do: "verifyCredentials", Replica: 1},
		{Step: "signOut", Do: "signOut", Replica: 0},
		{Step: "signInWithDevisePassword", Do: "signIn", Replica: 1, Email: alan.Email, Password: alan.Password},
	})
	reloaded, signOut, alanIn := steps[0], steps[1], steps[2]
	wantRTA(t, e, reloaded, "GET", "/validate_token", 200, "VERIFY_TOKEN_REQUEST_SUCCEEDED", true)
	wantSession(t, e, reloaded, grace)
	if reloaded.header("client") != rotated.header("client") {
		t.Fatalf("%s: client %q, want the exchanged session's %q", reloaded.Step, reloaded.header("client"), rotated.header("client"))
	}
	wantRTA(t, e, signOut, "DELETE", "/sign_out", 200, "SIGNOUT_REQUEST_SUCCEEDED", false)
	wantRTA(t, e, alanIn, "POST", "/sign_in", 200, "SIGNIN_REQUEST_SUCCEEDED", true)
	wantSession(t, e, alanIn, alan)

	// Alan's devise app on another device, started after his password sign-in (which rehashed
	// the password to argon2id): its pre-cutover token is still exchanged.
	steps = rtaResume(t, e, "Alan's app with the pre-cutover token", alan.stored(), []rtaPlanStep{
		{Step: "startWithImportedToken", Do: "verifyCredentials", Replica: 1},
	})
	alanExchanged := steps[0]
	wantRTA(t, e, alanExchanged, "GET", "/validate_token", 200, "VERIFY_TOKEN_REQUEST_SUCCEEDED", true)
	wantSession(t, e, alanExchanged, alan)
	if c := alanExchanged.header("client"); c == alanIn.header("client") || c == alan.Client {
		t.Fatalf("%s: client %q, want a session of its own", alanExchanged.Step, c)
	}

	// Edsger, never confirmed in devise, signs in with his devise password in a fresh app.
	steps = rtaResume(t, e, "Edsger's fresh app", map[string]string{}, []rtaPlanStep{
		{Step: "signInWithDevisePassword", Do: "signIn", Replica: 0, Email: edsger.Email, Password: edsger.Password},
	})
	edsgerIn := steps[0]
	wantRTA(t, e, edsgerIn, "POST", "/sign_in", 200, "SIGNIN_REQUEST_SUCCEEDED", true)
	wantSession(t, e, edsgerIn, edsger)

	t.Logf("devise export of 3 users written in %s (bcrypt cost %d), imported by kubectl latch in %s; redux-token-auth from the pre-cutover token: "+
		"exchanged on replica 0 in %d ms, echoed on replica 1 in %d ms, rotated in %d ms; the spent token refused in %d ms; "+
		"devise passwords signed in in %d, %d, %d ms; Alan's token exchanged after his password sign-in in %d ms",
		generated.Round(time.Millisecond), deviseCost, imported.Round(time.Millisecond),
		exchanged.Ms, echoed.Ms, rotated.Ms, refused.Ms, signIn.Ms, alanIn.Ms, edsgerIn.Ms, alanExchanged.Ms)
}

// stored is what the package keeps in localStorage after the step, as the next start reads it.
func (s rtaStep) stored() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"access-token", "token-type", "client", "expiry", "uid"} {
		m[k] = s.header(k)
	}
	return m
}
