package importer_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchauth/latch/authserver/admin"
	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/token"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// devise's own token: SecureRandom.urlsafe_base64(nil, false), 16 random bytes.
func deviseRandom() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// distinct is how many different passwords and tokens the fixture's bcrypt hashes are made of:
// bcrypt at cost 4 takes ~45 ms under -race, so 10k users get their hashes from a pool (the
// importer copies hashes and never looks at who else has the same one).
const distinct = 40

type secretPair struct{ plain, hash string }

func bcryptPool(t *testing.T, prefix string) []secretPair {
	out := make([]secretPair, distinct)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			plain := prefix + deviseRandom()
			h, err := bcrypt.GenerateFromPassword([]byte(plain), bcrypt.MinCost)
			if err != nil {
				t.Error(err)
			}
			out[i] = secretPair{plain, string(h)}
		})
	}
	wg.Wait()
	return out
}

type fixtureUser struct {
	email, password string
	client, token   string // the devise client holding a pre-cutover token
}

// writeDeviseCSV writes an export as `\copy users TO ... CSV HEADER` writes devise_token_auth's
// users table: every user with a password, a confirmed_at for most, and a tokens column
// holding a live token (and, for some, an expired one devise had not pruned yet).
func writeDeviseCSV(t *testing.T, path string, n int) []fixtureUser {
	passwords, tokens := bcryptPool(t, "pw-"), bcryptPool(t, "")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"id", "provider", "uid", "email", "encrypted_password", "confirmed_at", "name", "tokens", "created_at"})
	users := make([]fixtureUser, n)
	exp := time.Now().Add(14 * 24 * time.Hour).Unix()
	for i := range users {
		pw, tok := passwords[i%distinct], tokens[(i/distinct)%distinct]
		u := fixtureUser{email: fmt.Sprintf("User%05d@Example.com", i), password: pw.plain, client: deviseRandom(), token: tok.plain}
		cols := map[string]any{u.client: map[string]any{"token": tok.hash, "expiry": exp, "last_token": nil, "updated_at": "2024-05-01T10:00:00.000Z"}}
		if i%10 == 0 {
			cols["old-"+deviseRandom()] = map[string]any{"token": tok.hash, "expiry": time.Now().Add(-time.Hour).Unix()}
		}
		tj, _ := json.Marshal(cols)
		confirmed := "2024-01-02 03:04:05.123456"
		if i%100 == 99 {
			confirmed = ""
		}
		_ = w.Write([]string{strconv.Itoa(i + 1), "email", u.email, u.email, pw.hash, confirmed, "Ada Lovelace", string(tj), "2024-01-01 00:00:00"})
		users[i] = u
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return users
}

// TestDeviseMigration is the cutover: a devise export of 10k users is imported into a realm on
// real Redis; users log in with their old passwords (rehashed to argon2id once), and devise
// clients holding pre-cutover tokens keep their sessions.
func TestDeviseMigration(t *testing.T) {
	const n = 10_000
	srv := servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
		c.Protocols.DeviseToken = &config.DeviseToken{BatchRequestBuffer: config.D(time.Second)}
		c.Registration.EmailConfirmation = config.ConfirmationRequired
	}})
	dir := t.TempDir()
	file := filepath.Join(dir, "users.csv")
	users := writeDeviseCSV(t, file, n)
	auditLog := filepath.Join(dir, "audit.log")
	runImport := func() (int, string, string) {
		var out, errOut bytes.Buffer
		code := admin.Main(t.Context(), []string{"--config", srv.ConfigFile(), "--actor", "ops@example.com", "--audit-log", auditLog,
			"-o", "json", "import", file}, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	began := time.Now()
	code, out, errOut := runImport()
	t.Logf("imported %d users in %s", n, time.Since(began))
	if code != 0 {
		t.Fatalf("import: exit %d: %s %s", code, out, errOut)
	}
	var res struct {
		Counts map[string]int `json:"counts"`
		Errors []string       `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("import output %q: %v", out, err)
	}
	want := map[string]int{"read": n, "created": n, "pending": n / 100, "skipped": 0, "failed": 0, "tokens": n, "expiredTokens": n / 10, "foreignHashes": n}
	for k, v := range want {
		if res.Counts[k] != v {
			t.Errorf("count %s = %d, want %d (all: %v)", k, res.Counts[k], v, res.Counts)
		}
	}
	audit, _ := os.ReadFile(auditLog)
	if !strings.Contains(string(audit), `"event":"admin.import"`) || !strings.Contains(string(audit), `"actor":"ops@example.com"`) ||
		!strings.Contains(string(audit), fmt.Sprintf(`"created":%d`, n)) {
		t.Errorf("audit log lacks the import event: %s", audit)
	}

	// All 10k are there, hashes copied as they were.
	st, err := redisstore.Open(srv.Config.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := 0
	if err := st.ScanUsers(t.Context(), 500, func(us []store.User) error { seen += len(us); return nil }); err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Errorf("the store holds %d users, want %d", seen, n)
	}
	hashOf := func(email string) string {
		t.Helper()
		u, err := st.GetUserByLogin(t.Context(), email)
		if err != nil {
			t.Fatalf("user %s: %v", email, err)
		}
		return u.PasswordHash
	}
	if h := hashOf(users[1].email); !strings.HasPrefix(h, "$2a$04$") {
		t.Errorf("imported hash %q, want the devise bcrypt copied", h)
	}

	// A re-run is idempotent: every line is an existing login, skipped, nothing overwritten.
	code, out, _ = runImport()
	res.Counts = nil
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || res.Counts["skipped"] != n || res.Counts["created"] != 0 {
		t.Errorf("re-run: exit %d, %s", code, out)
	}

	hc := servertest.Client()
	do := func(method, path string, body any, header ...string) servertest.Response {
		return servertest.Do(t, hc, method, srv.PublicURL+"/auth"+path, body, header...)
	}
	// A sample logs in over HTTP with the old password: rehashed to argon2id at the first
	// login, and not again at the second. Every 100th user (unconfirmed, in a realm that
	// requires confirmation) is pending and refused, as a registration would be.
	for i := 0; i < n; i += n / 200 {
		u := users[i+1]
		if r := do(http.MethodPost, "/sign_in", map[string]string{"email": u.email, "password": u.password}); r.StatusCode != http.StatusOK {
			t.Fatalf("%s: sign in with the old password: %d %s", u.email, r.StatusCode, r.Body)
		}
		first := hashOf(u.email)
		if !strings.HasPrefix(first, "$argon2id$") {
			t.Fatalf("%s: hash after the first login %q, want argon2id", u.email, first)
		}
		if r := do(http.MethodPost, "/sign_in", map[string]string{"email": u.email, "password": u.password}); r.StatusCode != http.StatusOK {
			t.Fatalf("%s: second sign in: %d", u.email, r.StatusCode)
		}
		if again := hashOf(u.email); again != first {
			t.Fatalf("%s: rehashed again at the second login", u.email)
		}
		if i > 0 {
			continue // one wrong password is enough: every failure counts against this address
		}
		if r := do(http.MethodPost, "/sign_in", map[string]string{"email": u.email, "password": u.password + "x"}); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: wrong password: %d", u.email, r.StatusCode)
		}
	}
	// Every imported hash is counted, the unused reservation given back; each first login
	// counts one down (store.ImportedHashes: what keeps failed logins' timing alike).
	if rec, err := st.ImportedHashes(t.Context()); err != nil || rec.Remaining != n-200 || len(rec.Twins) != 1 || rec.Twins[0].Cost != 4 {
		t.Errorf("imported-hash record after 200 first logins: %+v, %v; want %d remaining and one bcrypt cost 4 twin", rec, err, n-200)
	}
	pending := users[99]
	if r := do(http.MethodPost, "/sign_in", map[string]string{"email": pending.email, "password": pending.password}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("an unconfirmed user signed in: %d", r.StatusCode)
	}

	// A devise client holding its pre-cutover token: validate_token accepts it once, answering
	// with a session of this server, which then works like any other.
	legacy := func(u fixtureUser, tok string) []string {
		return []string{"access-token", tok, "client", u.client, "uid", strings.ToLower(u.email), "token-type", "Bearer"}
	}
	var exchanged []fixtureUser
	for i := 3; i < n; i += n / 50 {
		u := users[i]
		r := do(http.MethodGet, "/validate_token", nil, legacy(u, u.token)...)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: validate_token with the pre-cutover token: %d %s", u.email, r.StatusCode, r.Body)
		}
		tok, client := r.Header.Get("access-token"), r.Header.Get("client")
		parsed, err := token.ParseSessionToken(tok)
		if err != nil || client != parsed.SessionID || client == u.client {
			t.Fatalf("%s: exchange answered access-token %q client %q, want a new session of this server", u.email, tok, client)
		}
		next := []string{"access-token", tok, "client", client, "uid", r.Header.Get("uid")}
		r2 := do(http.MethodGet, "/validate_token", nil, next...)
		if r2.StatusCode != http.StatusOK {
			t.Fatalf("%s: validate_token with the exchanged token: %d %s", u.email, r2.StatusCode, r2.Body)
		}
		if i == 3 {
			// Inside the grace a racing request of the same client is exchanged too.
			if r := do(http.MethodGet, "/validate_token", nil, legacy(u, u.token)...); r.StatusCode != http.StatusOK {
				t.Errorf("a racing request inside the batch buffer: %d", r.StatusCode)
			}
		}
		exchanged = append(exchanged, u)
	}
	time.Sleep(1100 * time.Millisecond) // past the batch buffer
	for _, u := range exchanged {
		if r := do(http.MethodGet, "/validate_token", nil, legacy(u, u.token)...); r.StatusCode != http.StatusUnauthorized || r.Header.Get("access-token") != "" {
			t.Fatalf("%s: the spent legacy token after the buffer: %d, access-token %q", u.email, r.StatusCode, r.Header.Get("access-token"))
		}
	}
	// A wrong token on a real client, an unknown client and an unknown uid: all the ordinary 401.
	u := users[7]
	other := users[7+distinct] // another user's token (same pool index) must not work for u
	for name, h := range map[string][]string{
		"wrong token":    legacy(u, deviseRandom()),
		"unknown client": {"access-token", u.token, "client", deviseRandom(), "uid", u.email},
		"unknown uid":    {"access-token", u.token, "client", u.client, "uid", "nobody@example.com"},
		"other's client": {"access-token", other.token, "client", other.client, "uid", u.email},
	} {
		if r := do(http.MethodGet, "/validate_token", nil, h...); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, r.StatusCode)
		}
	}
	if r := do(http.MethodGet, "/validate_token", nil, legacy(u, u.token)...); r.StatusCode != http.StatusOK {
		t.Errorf("the real token after a wrong guess: %d, want 200 (a guess must not spend it)", r.StatusCode)
	}
}
