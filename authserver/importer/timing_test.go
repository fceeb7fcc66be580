package importer_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchauth/latch/authserver/admin"
	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store/redisstore"
)

// TestImportedHashesDoNotTellWhoExists is the enumeration attack on a realm just migrated from
// devise. The attacker knows devise hashed with bcrypt and Latch with argon2id: a wrong
// password for an imported user who has not logged in since costs a bcrypt check, an unknown
// login costs the argon2id dummy, so a slow "invalid credentials" would say "this address has
// an account". The attacker times wrong passwords for a list of addresses; every failure must
// take about as long as any other: unknown, imported and not yet rehashed, already migrated
// (argon2id). Then the victims log in, which counts the realm's imported hashes down to none,
// and the floor that kept the failures alike goes with them.
func TestImportedHashesDoNotTellWhoExists(t *testing.T) {
	// RealHashing's counting, with argon2id cheaper than its own and bcrypt at cost 10: the
	// gap an attacker would time is what matters (about 30 times without the floor), and cost
	// 12 under the race detector takes seconds a check.
	argon := config.Argon2{MemoryKiB: 2048, Iterations: 1, Parallelism: 1}
	srv := servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
		servertest.RealHashing(c)
		c.Passwords.Argon2 = argon
		c.Protocols.DeviseToken = &config.DeviseToken{}
	}})
	const pw = "correct horse battery staple"
	deviseHash, err := bcrypt.GenerateFromPassword([]byte(pw), 10)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := password.NewPool(config.Passwords{Argon2: argon, HashWorkers: 1, HashQueue: 1})
	if err != nil {
		t.Fatal(err)
	}
	migratedHash, err := pool.Hash(t.Context(), pw)
	if err != nil {
		t.Fatal(err)
	}
	var export bytes.Buffer
	for _, u := range []struct{ email, hash string }{
		{"imported@example.com", string(deviseHash)},
		{"second-import@example.com", string(deviseHash)},
		{"migrated@example.com", migratedHash},
	} {
		line, _ := json.Marshal(map[string]any{"email": u.email, "encrypted_password": u.hash, "confirmed_at": "2024-01-02T03:04:05Z"})
		export.Write(append(line, '\n'))
	}
	file := filepath.Join(t.TempDir(), "users.jsonl")
	if err := os.WriteFile(file, export.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := admin.Main(t.Context(), []string{"--config", srv.ConfigFile(), "--actor", "ops@example.com",
		"--audit-log", filepath.Join(t.TempDir(), "audit.log"), "import", file}, &out, &errOut); code != 0 {
		t.Fatalf("import: exit %d: %s %s", code, out.String(), errOut.String())
	}
	t.Log(out.String())

	hc := servertest.Client()
	signIn := func(email, pw string) func(...string) servertest.Response {
		return func(header ...string) servertest.Response {
			return servertest.Do(t, hc, http.MethodPost, srv.PublicURL+"/auth/sign_in", map[string]string{"email": email, "password": pw}, header...)
		}
	}
	servertest.CheckFailedLogins(t,
		servertest.FailedLogin{Name: "imported, not yet logged in", Attempt: signIn("imported@example.com", "wrong "+pw)},
		servertest.FailedLogin{Name: "unknown login", Attempt: signIn("ghost@example.com", pw)},
		servertest.FailedLogin{Name: "migrated to argon2id", Attempt: signIn("migrated@example.com", "wrong "+pw)},
	)

	st, err := redisstore.Open(srv.Config.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	remaining := func() int64 {
		t.Helper()
		rec, err := st.ImportedHashes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return rec.Remaining
	}
	if n := remaining(); n != 2 {
		t.Errorf("after the import the realm counts %d imported hashes, want 2 (the argon2id one is not foreign)", n)
	}
	for i, email := range []string{"imported@example.com", "second-import@example.com"} {
		if r := signIn(email, pw)(); r.StatusCode != http.StatusOK {
			t.Fatalf("%s signs in with the devise password: %d %s", email, r.StatusCode, r.Body)
		}
		if r := signIn(email, pw)(); r.StatusCode != http.StatusOK {
			t.Fatalf("%s signs in again: %d %s", email, r.StatusCode, r.Body)
		}
		if n, want := remaining(), int64(1-i); n != want {
			t.Errorf("after %s's logins the realm counts %d imported hashes, want %d", email, n, want)
		}
	}
	if rec, err := st.ImportedHashes(t.Context()); err != nil || len(rec.Twins) != 0 {
		t.Errorf("with every imported user rehashed the record is %+v, %v; want none", rec, err)
	}
}
