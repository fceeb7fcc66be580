package importer_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/importer"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store/redisstore"
)

// TestImportThroughput measures an import of users on a real Redis, and the first (bcrypt)
// and later (a session of this server) validate_token of a migrated devise token. In make test
// it runs small (1,000 users, tokens at bcrypt's least cost) so the path stays exercised; the
// measurement asks for its size and devise's own cost 12:
//
//	LATCH_IMPORT_USERS=100000 go test -run TestImportThroughput -v ./authserver/importer/
func TestImportThroughput(t *testing.T) {
	n, cost, samples := 1000, bcrypt.MinCost, 2
	if v, err := strconv.Atoi(os.Getenv("LATCH_IMPORT_USERS")); err == nil && v > 0 {
		n, cost, samples = v, 12, 8
	}
	srv := servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
		c.Protocols.DeviseToken = &config.DeviseToken{}
	}})
	file := filepath.Join(t.TempDir(), "users.csv")
	users := writeDeviseCSV(t, file, n)
	st, err := redisstore.Open(srv.Config.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := importer.NewReader(f, importer.DeviseCSV)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	c, err := importer.Run(t.Context(), st, r, importer.Options{Workers: 32})
	took := time.Since(began)
	if err != nil || c.Created != n {
		t.Fatalf("import: %+v, %v", c, err)
	}
	t.Logf("imported %d users with %d devise tokens in %s: %.0f users/s", n, c.Tokens, took.Round(time.Millisecond), float64(n)/took.Seconds())

	// Tokens as devise writes them, for a few users, put beside the imported ones.
	hc := servertest.Client()
	var first, later []time.Duration
	for i := range samples {
		u := users[i]
		raw := deviseRandom()
		h, _ := bcrypt.GenerateFromPassword([]byte(raw), cost)
		lines := `{"email":"x` + strconv.Itoa(i) + u.email + `","tokens":{"` + u.client + `":{"token":"` + string(h) + `","expiry":` +
			strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + `}}}`
		rr, _ := importer.NewReader(strings.NewReader(lines), importer.JSONL)
		if _, err := importer.Run(t.Context(), st, rr, importer.Options{}); err != nil {
			t.Fatal(err)
		}
		uid := "x" + strconv.Itoa(i) + u.email
		t0 := time.Now()
		res := servertest.Do(t, hc, http.MethodGet, srv.PublicURL+"/auth/validate_token", nil, "access-token", raw, "client", u.client, "uid", uid)
		first = append(first, time.Since(t0))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("exchange: %d", res.StatusCode)
		}
		t0 = time.Now()
		res = servertest.Do(t, hc, http.MethodGet, srv.PublicURL+"/auth/validate_token", nil,
			"access-token", res.Header.Get("access-token"), "client", res.Header.Get("client"), "uid", res.Header.Get("uid"))
		later = append(later, time.Since(t0))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("later: %d", res.StatusCode)
		}
	}
	slices.Sort(first)
	slices.Sort(later)
	t.Logf("validate_token of a migrated token, median of %d: first (bcrypt cost %d + exchange) %s, later %s",
		samples, cost, first[samples/2].Round(time.Microsecond), later[samples/2].Round(time.Microsecond))
}
