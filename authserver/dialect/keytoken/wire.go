package keytoken

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// defaultRole is the role reported for a user who has none: every account is at least a
// user, and the seed's clients read role as a string.
const defaultRole = "user"

// credentials answers a registration or a login: the seed's {role,key,token,refresh,expires}.
type credentials struct {
	Role    string `json:"role"`
	Key     string `json:"key"`
	Token   string `json:"token"`
	Refresh string `json:"refresh"`
	Expires string `json:"expires"`
}

// refreshed answers a refresh: the seed's {key,token,refresh,expires}.
type refreshed struct {
	Key     string `json:"key"`
	Token   string `json:"token"`
	Refresh string `json:"refresh"`
	Expires string `json:"expires"`
}

// user is the user of GET and PATCH {prefix}users. It never holds the password hash or a
// token.
type user struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	// UnconfirmedEmail is the address an email change waits to be confirmed from; absent when
	// none waits.
	UnconfirmedEmail string `json:"unconfirmedEmail,omitempty"`
}

func userOf(u store.User) user {
	return user{
		ID: u.ID, Email: emailOf(u), Role: roleOf(u), FirstName: u.FirstName, LastName: u.LastName,
		UnconfirmedEmail: u.UnconfirmedEmail,
	}
}

// emailOf is the user's email, or the login of an account registered elsewhere without one.
// Accounts registered here have both, equal.
func emailOf(u store.User) string {
	if u.Email != "" {
		return u.Email
	}
	return u.Login
}

func roleOf(u store.User) string {
	if u.Role == "" {
		return defaultRole
	}
	return u.Role
}

// apiError is the dialect's error body.
type apiError struct {
	Error string `json:"error"`
}

// writeError is the dialect's httpx.ErrorWriter.
func writeError(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	httpx.WriteJSON(w, status, apiError{Error: msg})
}

// timestamp formats t as RFC 3339 in UTC, to the second. Sub-second digits are dropped, so an
// expiry is never reported later than it is and a client refreshes in time.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// The request bodies. Unknown fields are ignored; a field of the wrong type is a 400.
type (
	registerRequest struct {
		Client    string `json:"client"`
		Email     string `json:"email"`
		Password  string `json:"password"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
	}
	loginRequest struct {
		Client   string `json:"client"`
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	refreshRequest struct {
		Client  string `json:"client"`
		Key     string `json:"key"`
		Refresh string `json:"refresh"`
	}
	logoutRequest struct {
		Client string `json:"client"`
	}
	// updateRequest changes the user. Password is the current password, which a change of
	// the email needs; without an email it is refused, as Role always is: ignoring them
	// silently would tell the client a change happened that did not.
	updateRequest struct {
		Email     *string         `json:"email"`
		FirstName *string         `json:"firstName"`
		LastName  *string         `json:"lastName"`
		Password  *string         `json:"password"`
		Role      json.RawMessage `json:"role"`
	}
)

// maxAuthorizationLen bounds the Authorization header looked at: "Basic ", the base64 of the
// longest key:token (a session key, a colon, a secret), and room for extra spaces.
var maxAuthorizationLen = len("Basic ") + base64.StdEncoding.EncodedLen(2*token.IDLen+1+1+token.SecretLen) + 16

// basicCredentials returns the session token of a request's Authorization headers:
// `Basic base64(key:token)` with key `<userID>.<sessionID>` and token the secret, which
// together are the session token `<userID>.<sessionID>.<secret>` (DESIGN.md). There must be
// exactly one Authorization header; the base64 may be padded or not. Anything else, or
// anything that cannot be one of our tokens, is ok=false, and never reaches the store.
func basicCredentials(values []string) (_ token.SessionToken, ok bool) {
	if len(values) != 1 || len(values[0]) > maxAuthorizationLen {
		return token.SessionToken{}, false
	}
	scheme, rest, found := strings.Cut(values[0], " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return token.SessionToken{}, false
	}
	enc := strings.TrimLeft(rest, " ")
	var (
		raw []byte
		err error
	)
	if strings.HasSuffix(enc, "=") {
		raw, err = base64.StdEncoding.Strict().DecodeString(enc)
	} else {
		raw, err = base64.RawStdEncoding.Strict().DecodeString(enc)
	}
	if err != nil {
		return token.SessionToken{}, false
	}
	key, secret, found := strings.Cut(string(raw), ":")
	if !found {
		return token.SessionToken{}, false
	}
	ref, ok := parseKey(key)
	if !ok {
		return token.SessionToken{}, false
	}
	// The parser checks the secret and the whole shape again, strictly.
	t, err := token.ParseSessionToken(ref.UserID + "." + ref.SessionID + "." + secret)
	if err != nil {
		return token.SessionToken{}, false
	}
	return t, true
}

// keyOf formats a session's key: `<userID>.<sessionID>`.
func keyOf(ref store.SessionRef) string { return ref.UserID + "." + ref.SessionID }

// parseKey parses a key `<userID>.<sessionID>` strictly.
func parseKey(key string) (store.SessionRef, bool) {
	if len(key) != 2*token.IDLen+1 {
		return store.SessionRef{}, false
	}
	uid, sid, found := strings.Cut(key, ".")
	if !found || !token.ValidID(uid) || !token.ValidID(sid) {
		return store.SessionRef{}, false
	}
	return store.SessionRef{UserID: uid, SessionID: sid}, true
}
