package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// Format names an export's layout.
type Format string

// The formats. Both carry devise's column names (email, encrypted_password, confirmed_at,
// tokens, first_name, last_name or name); the generic names password_hash and confirmed (a
// boolean) are read as well, so an export of another system needs only those keys.
const (
	DeviseCSV   Format = "devise-csv"   // a header row, then one user per record
	DeviseJSONL Format = "devise-jsonl" // one JSON object per line
	JSONL       Format = "jsonl"        // the same reader as devise-jsonl
)

// ParseFormat reads a --format value; empty detects it from the file name's extension.
func ParseFormat(s, path string) (Format, error) {
	switch Format(s) {
	case DeviseCSV, DeviseJSONL, JSONL:
		return Format(s), nil
	case "":
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			return DeviseCSV, nil
		case ".jsonl", ".ndjson", ".json":
			return DeviseJSONL, nil
		}
		return "", fmt.Errorf("cannot tell the format of %q from its extension: give --format", path)
	}
	return "", fmt.Errorf("unknown format %q (devise-csv, devise-jsonl or jsonl)", s)
}

// Record is one user of an export.
type Record struct {
	// Line is where the record starts in the file (1-based), for error reports.
	Line  int
	Email string
	// PasswordHash is copied as it is; empty imports a user without a password (who can set
	// one through a reset link).
	PasswordHash string
	Confirmed    bool
	FirstName    string
	LastName     string
	// Tokens are devise_token_auth's tokens of the user, expired ones included (Run drops them).
	Tokens []store.LegacyToken
}

// LineError is a record that cannot be read or imported; the import goes on without it.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Reader yields an export's records one by one: a *LineError for a record it cannot read
// (the next call goes on after it), io.EOF at the end, anything else for a file it cannot read
// on.
type Reader interface {
	Next() (Record, error)
}

// Bounds on one record: far above any real export's, so that a corrupt file costs an error
// per line, not the importer's memory.
const (
	// MaxLineBytes bounds one JSON line or CSV record.
	MaxLineBytes = 1 << 20
	maxFieldLen  = 1024
)

// NewReader returns a streaming reader of r in format f.
func NewReader(r io.Reader, f Format) (Reader, error) {
	switch f {
	case DeviseCSV:
		return newCSVReader(r)
	case DeviseJSONL, JSONL:
		return &jsonlReader{r: bufio.NewReaderSize(r, 64<<10)}, nil
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

// fields are a record's raw values by column name, before they are checked.
type fields struct {
	email, hash, confirmedAt, tokens, first, last, name string
	confirmed                                           *bool
}

func (f fields) record(line int) (Record, error) {
	rec := Record{Line: line, Email: strings.TrimSpace(f.email), PasswordHash: f.hash,
		FirstName: strings.TrimSpace(f.first), LastName: strings.TrimSpace(f.last)}
	if rec.Email == "" {
		return rec, errors.New("no email")
	}
	for _, v := range []string{rec.Email, rec.PasswordHash, rec.FirstName, rec.LastName, f.name, f.confirmedAt} {
		if len(v) > maxFieldLen {
			return rec, fmt.Errorf("a field is longer than %d bytes", maxFieldLen)
		}
	}
	if rec.FirstName == "" && rec.LastName == "" && f.name != "" {
		// devise_token_auth has one name column: the first word is the first name.
		first, last, _ := strings.Cut(strings.TrimSpace(f.name), " ")
		rec.FirstName, rec.LastName = first, strings.TrimSpace(last)
	}
	switch {
	case f.confirmed != nil:
		rec.Confirmed = *f.confirmed
	default:
		c := strings.TrimSpace(f.confirmedAt)
		rec.Confirmed = c != "" && !strings.EqualFold(c, "null") && !strings.EqualFold(c, "\\N")
	}
	var err error
	if rec.Tokens, err = parseTokens(f.tokens); err != nil {
		return rec, err
	}
	return rec, nil
}

// deviseToken is one client's entry of devise_token_auth's tokens column. Its expiry is Unix
// seconds (a number, or a string in older versions); last_token and updated_at are not kept:
// the previous token is accepted only inside devise's batch buffer, seconds after the last
// request before the cutover, long past when the export is imported.
type deviseToken struct {
	Token  string          `json:"token"`
	Expiry json.RawMessage `json:"expiry"`
}

// parseTokens reads devise_token_auth's tokens column: a JSON object keyed by client ID, or
// the empty value / "{}" / null of a user without tokens.
func parseTokens(s string) ([]store.LegacyToken, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "null" || s == "{}" || s == "\\N" {
		return nil, nil
	}
	var m map[string]deviseToken
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("tokens is not devise_token_auth's JSON object: %v", err)
	}
	if len(m) > store.MaxLegacyTokens {
		return nil, fmt.Errorf("%d tokens, more than %d", len(m), store.MaxLegacyTokens)
	}
	out := make([]store.LegacyToken, 0, len(m))
	for client, t := range m {
		exp, err := strconv.ParseInt(strings.Trim(string(t.Expiry), `"`), 10, 64)
		if err != nil || t.Token == "" {
			return nil, fmt.Errorf("token of client %q has no token hash or expiry", client)
		}
		out = append(out, store.LegacyToken{Client: client, Hash: t.Token, ExpiresAt: time.Unix(exp, 0).UTC()})
	}
	return out, nil
}

type csvReader struct {
	r    *csv.Reader
	cols map[string]int
}

func newCSVReader(r io.Reader) (*csvReader, error) {
	cr := csv.NewReader(&limitedLines{r: bufio.NewReaderSize(r, 64<<10)})
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read the header row: %w", err)
	}
	cols := map[string]int{}
	for i, h := range head {
		cols[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	if _, ok := cols["email"]; !ok {
		return nil, errors.New("the header row has no email column")
	}
	return &csvReader{r: cr, cols: cols}, nil
}

func (c *csvReader) Next() (Record, error) {
	row, err := c.r.Read()
	line, _ := c.r.FieldPos(0)
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return Record{}, &LineError{Line: pe.StartLine, Err: pe.Err}
		}
		if errors.Is(err, errLineTooLong) {
			return Record{}, &LineError{Line: line, Err: err}
		}
		return Record{}, err
	}
	get := func(name string) string {
		if i, ok := c.cols[name]; ok && i < len(row) {
			return row[i]
		}
		return ""
	}
	f := fields{email: get("email"), hash: get("encrypted_password"), confirmedAt: get("confirmed_at"), tokens: get("tokens"),
		first: get("first_name"), last: get("last_name"), name: get("name")}
	if f.hash == "" {
		f.hash = get("password_hash")
	}
	if v := get("confirmed"); v != "" {
		b := strings.EqualFold(v, "true") || v == "1" || v == "t"
		f.confirmed = &b
	}
	rec, err := f.record(line)
	if err != nil {
		return Record{}, &LineError{Line: line, Err: err}
	}
	return rec, nil
}

var errLineTooLong = fmt.Errorf("a line is longer than %d bytes", MaxLineBytes)

// limitedLines passes r through but fails a line longer than MaxLineBytes, which encoding/csv
// would otherwise buffer whole.
type limitedLines struct {
	r   *bufio.Reader
	run int
}

func (l *limitedLines) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == '\n' {
			l.run = 0
		} else if l.run++; l.run > MaxLineBytes {
			return i, errLineTooLong
		}
	}
	return n, err
}

type jsonlReader struct {
	r    *bufio.Reader
	line int
}

// jsonRecord accepts devise's keys and the generic ones.
type jsonRecord struct {
	Email             string          `json:"email"`
	EncryptedPassword string          `json:"encrypted_password"`
	PasswordHash      string          `json:"password_hash"`
	ConfirmedAt       json.RawMessage `json:"confirmed_at"`
	Confirmed         *bool           `json:"confirmed"`
	Tokens            json.RawMessage `json:"tokens"`
	FirstName         string          `json:"first_name"`
	LastName          string          `json:"last_name"`
	Name              string          `json:"name"`
}

func (j *jsonlReader) Next() (Record, error) {
	for {
		j.line++
		b, err := j.readLine()
		if errors.Is(err, errLineTooLong) {
			return Record{}, &LineError{Line: j.line, Err: err}
		}
		if err != nil && (!errors.Is(err, io.EOF) || len(b) == 0) {
			return Record{}, err
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var r jsonRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return Record{}, &LineError{Line: j.line, Err: fmt.Errorf("not a JSON object: %v", err)}
		}
		f := fields{email: r.Email, hash: r.EncryptedPassword, first: r.FirstName, last: r.LastName, name: r.Name, confirmed: r.Confirmed}
		if f.hash == "" {
			f.hash = r.PasswordHash
		}
		if c := bytes.TrimSpace(r.ConfirmedAt); len(c) > 0 && !bytes.Equal(c, []byte("null")) && !bytes.Equal(c, []byte(`""`)) {
			f.confirmedAt = "yes"
		}
		// tokens is an object, or the column's text: a string holding the object.
		var s string
		if err := json.Unmarshal(r.Tokens, &s); err == nil {
			f.tokens = s
		} else {
			f.tokens = string(r.Tokens)
		}
		rec, err := f.record(j.line)
		if err != nil {
			return Record{}, &LineError{Line: j.line, Err: err}
		}
		return rec, nil
	}
}

// readLine reads one line without its newline, failing (and skipping the rest of) a line
// longer than MaxLineBytes.
func (j *jsonlReader) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := j.r.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = j.r.ReadSlice('\n')
			}
			return nil, errLineTooLong
		}
		buf = append(buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(buf, []byte("\n")), err
	}
}
