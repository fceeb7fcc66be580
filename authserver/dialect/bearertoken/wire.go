package bearertoken

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/token"
)

// The status codes of the envelope. The first five are the seed's; the others name the
// general failures (docs/protocol.md#general-rules) in the seed's style.
const (
	codeOK                 = "OK"
	codeInvalidCredentials = "INVALID_CREDENTIALS"
	codeAuthFailed         = "AUTH_FAILED"
	codeInvalidToken       = "INVALID_TOKEN"
	codeActivationFailed   = "ACTIVATION_FAILED"

	codeInvalidRequest   = "INVALID_REQUEST"
	codeUnauthorized     = "UNAUTHORIZED"
	codeForbidden        = "FORBIDDEN"
	codeNotFound         = "NOT_FOUND"
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	codeRequestTimeout   = "REQUEST_TIMEOUT"
	codeTooLarge         = "REQUEST_TOO_LARGE"
	codeInternal         = "INTERNAL_ERROR"
)

// The messages of the seed's codes, word for word.
const (
	msgOK                 = "OK"
	msgInvalidCredentials = "Invalid credentials (login, password)"
	msgAuthFailed         = "Authentication failed"
	msgInvalidToken       = "Your token is not valid"
	msgActivationFailed   = "Activation failed"
	msgActivationTaken    = "Activation failed: the new email address is taken by another account"
	msgDeviceRevocation   = "Device tokens are revoked by the operator"
)

// status is the seed's {"code","message"}.
type status struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// envelope is every response of the dialect but activation's: the status, and the content of
// a success.
type envelope struct {
	Status  status `json:"status"`
	Content any    `json:"content,omitempty"`
}

var statusOK = status{Code: codeOK, Message: msgOK}

// tokenContent answers POST {prefix}/auth.
type tokenContent struct {
	Token   string `json:"token"`
	Created string `json:"created"`
	Expires string `json:"expires"`
}

// tokenInfo answers GET {prefix}/auth: the seed's token metadata. UserID and DeviceID are
// always present, one of them null; ClientID and Roles describe device tokens only (omitzero
// drops them for user tokens but keeps a device's empty roles as []).
type tokenInfo struct {
	Type     string   `json:"type"`
	Created  string   `json:"created"`
	Expires  string   `json:"expires"`
	UserID   *string  `json:"user_id"`
	DeviceID *string  `json:"device_id"`
	ClientID string   `json:"client_id,omitzero"`
	Roles    []string `json:"roles,omitzero"`
}

// activated answers POST {prefix}/users/activate: the seed's bare {login, email, active}, with
// the envelope's status beside it so that a client reading status.code as for every other
// response of the dialect reads OK.
type activated struct {
	Status status `json:"status"`
	Login  string `json:"login"`
	Email  string `json:"email"`
	Active bool   `json:"active"`
}

// timestamp formats t as RFC 3339 in UTC, to the second (docs/protocol.md#bearertoken-endpoints). Sub-second digits are
// dropped, so an expiry is never reported later than it is.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// writeStatus writes a response that carries only a status.
func writeStatus(w http.ResponseWriter, httpStatus int, code, msg string) {
	httpx.WriteJSON(w, httpStatus, envelope{Status: status{Code: code, Message: msg}})
}

// writeError is the dialect's httpx.ErrorWriter, for the answers the middleware and router
// give (404, 405, 413, 403, a recovered panic) and for malformed bodies: the envelope with a
// code named after the HTTP status.
func writeError(w http.ResponseWriter, _ *http.Request, httpStatus int, msg string) {
	writeStatus(w, httpStatus, codeOf(httpStatus), msg)
}

func codeOf(httpStatus int) string {
	switch httpStatus {
	case http.StatusBadRequest:
		return codeInvalidRequest
	case http.StatusUnauthorized:
		return codeUnauthorized
	case http.StatusForbidden:
		return codeForbidden
	case http.StatusNotFound:
		return codeNotFound
	case http.StatusMethodNotAllowed:
		return codeMethodNotAllowed
	case http.StatusRequestTimeout:
		return codeRequestTimeout
	case http.StatusRequestEntityTooLarge:
		return codeTooLarge
	}
	return codeInternal
}

// loginRequest is the body of POST {prefix}/auth. Unknown fields are ignored; a field of the
// wrong type is a 400.
type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// activationRequest is the body of POST {prefix}/users/activate: the token at the top level,
// or inside the seed's envelope ({"status":…,"content":{"activation_token":…}}).
type activationRequest struct {
	ActivationToken *string `json:"activation_token"`
	Content         *struct {
		ActivationToken *string `json:"activation_token"`
	} `json:"content"`
}

// errNoActivationToken is a well-formed body that names no activation token.
var errNoActivationToken = errors.New("no activation token")

// parseActivation returns the activation token of an activation body. A body that is not
// JSON, or that holds two different tokens (top level and content), is httpx.ErrMalformed;
// one without a token is errNoActivationToken. The token itself is not checked here.
func parseActivation(body []byte) (string, error) {
	var req activationRequest
	if err := httpx.ParseJSON(body, &req); err != nil {
		return "", err
	}
	var top, inner *string = req.ActivationToken, nil
	if req.Content != nil {
		inner = req.Content.ActivationToken
	}
	switch {
	case top != nil && inner != nil && *top != *inner:
		return "", fmt.Errorf("%w: activation_token and content.activation_token differ", httpx.ErrMalformed)
	case top != nil && *top != "":
		return *top, nil
	case inner != nil && *inner != "":
		return *inner, nil
	}
	return "", errNoActivationToken
}

// maxAuthorizationLen bounds the Authorization header looked at: the scheme, a space and the
// longest token, with room for extra spaces. Anything longer is not one of ours.
const maxAuthorizationLen = len("Bearer ") + max(token.SessionTokenLen, token.MaxDeviceTokenLen) + 16

// bearerCredentials returns the token of a request's Authorization headers (RFC 6750 section
// 2.1: the scheme case-insensitively, one or more spaces, the token). There must be exactly
// one Authorization header; ok is false for anything else.
func bearerCredentials(values []string) (raw string, ok bool) {
	if len(values) != 1 || len(values[0]) > maxAuthorizationLen {
		return "", false
	}
	scheme, rest, found := strings.Cut(values[0], " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	raw = strings.TrimLeft(rest, " ")
	if raw == "" || strings.ContainsAny(raw, " \t") {
		return "", false
	}
	return raw, true
}

// tokenKind tells the two kinds of bearer token apart.
type tokenKind int

const (
	kindInvalid tokenKind = iota
	kindUser              // `<userID>.<sessionID>.<secret>`, issued by POST /auth
	kindDevice            // `<clientID>.<secret>`, minted by the operator
)

// kindOf tells a user token from a device token by its shape (the number of dots), parsing
// it strictly, so that neither reaches the store malformed.
func kindOf(raw string) tokenKind {
	switch strings.Count(raw, ".") {
	case 2:
		if _, err := token.ParseSessionToken(raw); err == nil {
			return kindUser
		}
	case 1:
		if _, err := token.ParseDeviceToken(raw); err == nil {
			return kindDevice
		}
	}
	return kindInvalid
}
