package importer_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/importer"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/memory"
)

const bcryptHash = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"

// Bad lines are reported with their line numbers and counted, and the rest is imported.
func TestLineErrorsAreCountedAndSkipped(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	lines := []string{
		`{"email":"a@example.com","encrypted_password":"` + bcryptHash + `","confirmed_at":"2024-01-01","first_name":"Ada","last_name":"L"}`,
		`{"email":"b@example.com","encrypted_password":"md5:abc"}`, // 2: unknown hash
		`not json`, // 3
		``,         // blank lines are skipped, not errors
		`{"encrypted_password":"` + bcryptHash + `"}`,                                                                                 // 5: no email
		`{"email":"c@example.com","password_hash":"` + bcryptHash + `","confirmed":false}`,                                            // 6: generic keys, pending
		`{"email":"d@example.com","tokens":"{\"web\":{\"token\":\"` + bcryptHash + `\",\"expiry\":` + strings.Repeat("9", 3) + `}}"}`, // expired, as a string column
		`{"email":"e@example.com","tokens":{"web":{"token":"` + bcryptHash + `","expiry":"` + itoa(exp) + `"}},"name":"Grace Brewster Hopper"}`,
		`{"email":"f@example.com","tokens":{"web":{"expiry":1}}}`, // 9: a token without its hash
		`{"email":"A@example.com"}`, // 10: an existing login, skipped
		`{"email":"g@example.com","x":"` + strings.Repeat("x", importer.MaxLineBytes) + `"}`, // 11: too long
		`{"email":"h@example.com"}`,
	}
	st := memory.New()
	r, err := importer.NewReader(strings.NewReader(strings.Join(lines, "\n")), importer.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	var failed []int
	c, err := importer.Run(t.Context(), st, r, importer.Options{Workers: 1, Confirms: true, OnError: func(e *importer.LineError) { failed = append(failed, e.Line) }})
	if err != nil {
		t.Fatal(err)
	}
	want := importer.Counts{Read: 11, Created: 5, Pending: 4, Skipped: 1, Failed: 5, Tokens: 1, ExpiredTokens: 1, ForeignHashes: 2}
	if c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
	slices.Sort(failed) // read errors and import errors come from different goroutines
	if got := fmt.Sprint(failed); got != "[2 3 5 9 11]" {
		t.Errorf("failed lines %s, want [2 3 5 9 11]", got)
	}
	u, err := st.GetUserByLogin(t.Context(), "a@example.com")
	if err != nil || u.Status != store.StatusActive || u.PasswordHash != bcryptHash || u.FirstName != "Ada" {
		t.Errorf("a: %+v %v", u, err)
	}
	e, _ := st.GetUserByLogin(t.Context(), "e@example.com")
	if e.FirstName != "Grace" || e.LastName != "Brewster Hopper" || e.Status != store.StatusPending {
		t.Errorf("e: %+v", e)
	}
	if _, err := st.GetLegacyToken(t.Context(), e.ID, "web", time.Now()); err != nil {
		t.Errorf("e's devise token: %v", err)
	}
	d, _ := st.GetUserByLogin(t.Context(), "d@example.com")
	if _, err := st.GetLegacyToken(t.Context(), d.ID, "web", time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("d's expired token was kept: %v", err)
	}
}

func TestCSVHeaderAndQuotedLines(t *testing.T) {
	csv := "\ufeffEmail,encrypted_password,confirmed_at,tokens\n" +
		"a@example.com," + bcryptHash + ",2024-01-01,\n" +
		"\"b@\nexample.com\",x,,\n" + // 3: a quoted newline; the record starts at line 3
		"c@example.com,,,{}\n"
	r, err := importer.NewReader(strings.NewReader(csv), importer.DeviseCSV)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	c, err := importer.Run(t.Context(), memory.New(), r, importer.Options{OnError: func(e *importer.LineError) { lines = append(lines, e.Line) }})
	if err != nil || c.Created != 2 || c.Failed != 1 || len(lines) != 1 || lines[0] != 3 {
		t.Errorf("counts %+v, failed lines %v, err %v", c, lines, err)
	}
	if _, err := importer.NewReader(strings.NewReader("login,password\n"), importer.DeviseCSV); err == nil {
		t.Error("a header without an email column was accepted")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
