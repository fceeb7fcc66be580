package redisstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// Records are Redis hashes of short field names, times as Unix milliseconds ("0" for none):
// readable with redis-cli, comparable as numbers in Lua.

func msString(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func parseMS(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func durString(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func parseDur(s string) time.Duration {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Duration(n) * time.Millisecond
}

// userProfile is the part of a user record UpdateUser may write.
func userProfile(u store.User) []any {
	return []any{
		"login", u.Login, "email", u.Email, "first", u.FirstName, "last", u.LastName,
		"role", u.Role, "status", strconv.Itoa(int(u.Status)), "upd", msString(u.UpdatedAt),
		"uemail", u.UnconfirmedEmail,
	}
}

// userFields is a whole user record.
func userFields(u store.User) []any {
	return append(userProfile(u),
		"id", u.ID, "pw", u.PasswordHash, "created", msString(u.CreatedAt), "pwc", msString(u.PasswordChangedAt))
}

// fields reads one record's fields by name: a hash read whole (hashFields) or the fixed-order
// array a script returns (replyFields). A missing field reads as "".
type fields interface{ get(name string) string }

type hashFields map[string]string

func (m hashFields) get(name string) string { return m[name] }

// replyFields is a record as the scripts return it: the values of a field list, in its order,
// nil for a field the hash lacks. Arrays instead of name/value pairs halve what Redis sends
// and go-redis parses on every check, and decoding builds no map.
type replyFields struct {
	index map[string]int
	vals  []any
}

func (r replyFields) get(name string) string {
	i, ok := r.index[name]
	if !ok || i >= len(r.vals) {
		return ""
	}
	s, _ := r.vals[i].(string)
	return s
}

// The field lists of the records the scripts return, in order (see luaReplacer). The user's
// leaves out the password hash, which a session check never needs and should not carry.
var (
	sessionFieldNames   = []string{"id", "uid", "dialect", "client", "tok", "prev", "pvu", "rot", "texp", "ref", "spent", "created", "seen", "idle", "exp", "pcu"}
	userReplyFieldNames = []string{"id", "login", "email", "first", "last", "role", "status", "created", "upd", "pwc", "uemail"}
	sessionFieldIndex   = indexOf(sessionFieldNames)
	userReplyFieldIndex = indexOf(userReplyFieldNames)
)

func indexOf(names []string) map[string]int {
	m := make(map[string]int, len(names))
	for i, n := range names {
		m[n] = i
	}
	return m
}

func sessionReply(v any) fields {
	vals, _ := v.([]any)
	return replyFields{index: sessionFieldIndex, vals: vals}
}

func userReply(v any) fields {
	vals, _ := v.([]any)
	return replyFields{index: userReplyFieldIndex, vals: vals}
}

// decodeUser reads a user record; rev is its revision, the optimistic-concurrency token.
func decodeUser(f fields) (u store.User, rev string, err error) {
	id := f.get("id")
	if id == "" {
		return store.User{}, "", fmt.Errorf("redis: user record without an id")
	}
	status, err := strconv.Atoi(f.get("status"))
	if err != nil {
		return store.User{}, "", fmt.Errorf("redis: user %s: malformed status %q", id, f.get("status"))
	}
	return store.User{
		ID:                id,
		Login:             f.get("login"),
		Email:             f.get("email"),
		FirstName:         f.get("first"),
		LastName:          f.get("last"),
		Role:              f.get("role"),
		Status:            store.UserStatus(status),
		UnconfirmedEmail:  f.get("uemail"),
		PasswordHash:      f.get("pw"),
		CreatedAt:         parseMS(f.get("created")),
		UpdatedAt:         parseMS(f.get("upd")),
		PasswordChangedAt: parseMS(f.get("pwc")),
	}, f.get("rev"), nil
}

func sessionFields(s store.Session) []any {
	return []any{
		"id", s.ID, "uid", s.UserID, "dialect", s.Dialect, "client", s.ClientName,
		"tok", s.TokenHash, "prev", s.PreviousTokenHash, "pvu", msString(s.PreviousValidUntil),
		"rot", msString(s.RotatedAt), "texp", msString(s.TokenExpiresAt),
		"ref", s.RefreshHash, "spent", strings.Join(s.SpentRefreshHashes, " "),
		"created", msString(s.CreatedAt), "seen", msString(s.LastSeenAt),
		"idle", durString(s.IdleTimeout), "exp", msString(s.ExpiresAt),
		"pcu", msString(s.PasswordChangeUntil),
		"ip", s.ClientIP, "ua", s.UserAgent,
	}
}

func decodeSession(f fields) (store.Session, error) {
	id, uid := f.get("id"), f.get("uid")
	if id == "" || uid == "" {
		return store.Session{}, fmt.Errorf("redis: session record without ids")
	}
	return store.Session{
		ID:                  id,
		UserID:              uid,
		Dialect:             f.get("dialect"),
		ClientName:          f.get("client"),
		TokenHash:           f.get("tok"),
		PreviousTokenHash:   f.get("prev"),
		PreviousValidUntil:  parseMS(f.get("pvu")),
		RotatedAt:           parseMS(f.get("rot")),
		TokenExpiresAt:      parseMS(f.get("texp")),
		RefreshHash:         f.get("ref"),
		SpentRefreshHashes:  strings.Fields(f.get("spent")),
		CreatedAt:           parseMS(f.get("created")),
		LastSeenAt:          parseMS(f.get("seen")),
		IdleTimeout:         parseDur(f.get("idle")),
		ExpiresAt:           parseMS(f.get("exp")),
		PasswordChangeUntil: parseMS(f.get("pcu")),
		ClientIP:            f.get("ip"),
		UserAgent:           f.get("ua"),
	}, nil
}

func rolesString(roles []string) string {
	if len(roles) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(roles) // a []string always marshals
	return string(b)
}

func parseRoles(s string) ([]string, error) {
	var roles []string
	if err := json.Unmarshal([]byte(s), &roles); err != nil {
		return nil, fmt.Errorf("redis: malformed roles: %w", err)
	}
	if len(roles) == 0 {
		return nil, nil
	}
	return roles, nil
}

// revocationMessage is the JSON published on the revocations channel; short names, as the
// scripts write it with cjson.
type revocationMessage struct {
	UserID    string `json:"u"`
	SessionID string `json:"s"`
	Reason    string `json:"r"`
	At        string `json:"t"`
}

func encodeRevocation(r store.Revocation) string {
	b, _ := json.Marshal(revocationMessage{UserID: r.UserID, SessionID: r.SessionID, Reason: string(r.Reason), At: msString(r.At)})
	return string(b)
}

func decodeRevocation(payload string) (store.Revocation, error) {
	var m revocationMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return store.Revocation{}, fmt.Errorf("redis: malformed revocation message: %w", err)
	}
	return store.Revocation{UserID: m.UserID, SessionID: m.SessionID, Reason: store.Reason(m.Reason), At: parseMS(m.At)}, nil
}

// reply helpers: scripts return arrays of strings and nested arrays of strings.

func status(res []any) string {
	if len(res) == 0 {
		return ""
	}
	s, _ := res[0].(string)
	return s
}

func strs(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func pairs(v any) map[string]string {
	flat := strs(v)
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		m[flat[i]] = flat[i+1]
	}
	return m
}

// ms keeps a time at the millisecond precision records store, in UTC.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

func str(res []any, i int) string {
	if i >= len(res) {
		return ""
	}
	s, _ := res[i].(string)
	return s
}

func num(res []any, i int) int64 {
	n, _ := strconv.ParseInt(str(res, i), 10, 64)
	return n
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func unexpected(op string, res []any) error {
	return fmt.Errorf("redis %s: unexpected script reply %q", op, status(res))
}
