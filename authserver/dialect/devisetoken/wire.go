package devisetoken

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
)

// The messages of the answers, devise_token_auth's where it has one (config/locales/en.yml and
// docs/protocol.md#devisetoken-status-table). The sign-in failure has one message whatever the cause.
const (
	msgBadCredentials   = "Invalid login credentials. Please try again."
	msgInvalidToken     = "User not found or access-token invalid."
	msgNotSignedIn      = "User was not found or was not logged in."
	msgUnauthorized     = "Unauthorized"
	msgDeviceLimit      = "Maximum number of devices reached. Sign out on another device first."
	msgInternal         = "Internal server error."
	msgRateLimited      = "Too many requests. Try again later."
	msgResetSent        = "If your email address exists in our database, you will receive a password recovery link at your email address in a few minutes."
	msgMissingEmail     = "You must provide an email address."
	msgRedirectRefused  = "Redirect to the given redirect_url is not allowed."
	msgRedirectMissing  = "Missing redirect URL."
	msgConfirmRefused   = "Redirect to the given confirm_success_url is not allowed."
	msgConfirmSent      = "If your email address exists in our database, you will receive an email with instructions for how to confirm your email address in a few minutes."
	msgConfirmed        = "Your email address has been successfully confirmed."
	msgConfirmInvalid   = "The confirmation token is invalid or has expired."
	msgResetInvalid     = "The reset password token is invalid or has expired."
	msgMissingPasswords = "You must fill out the fields labeled 'Password' and 'Password confirmation'."
	msgPasswordUpdated  = "Your password has been successfully updated."
)

// provider is devise's provider of accounts that sign in with an email and a password.
const provider = "email"

// user is the user object devise answers with (its default columns, as
// token_validation_response renders them): the uid is the login, an email. Never a hash or a
// token. name joins the first and last names; nickname and image exist for clients configured
// to read them, and are always null here.
type user struct {
	ID        string  `json:"id"`
	Provider  string  `json:"provider"`
	UID       string  `json:"uid"`
	Email     string  `json:"email"`
	Name      *string `json:"name"`
	FirstName string  `json:"first_name"`
	LastName  string  `json:"last_name"`
	Nickname  *string `json:"nickname"`
	Image     *string `json:"image"`
}

func userOf(u store.User) user {
	email := u.Email
	if email == "" {
		email = u.Login
	}
	return user{
		ID: u.ID, Provider: provider, UID: u.Login, Email: email,
		Name: fullName(u.FirstName, u.LastName), FirstName: u.FirstName, LastName: u.LastName,
	}
}

func fullName(first, last string) *string {
	n := strings.TrimSpace(first + " " + last)
	if n == "" {
		return nil
	}
	return &n
}

// unsavedUser is the resource devise echoes in a refused registration: what was submitted,
// without an id and never with the password.
type unsavedUser struct {
	ID        *string `json:"id"`
	Provider  string  `json:"provider"`
	UID       string  `json:"uid"`
	Email     string  `json:"email"`
	Name      *string `json:"name"`
	FirstName string  `json:"first_name"`
	LastName  string  `json:"last_name"`
	Nickname  *string `json:"nickname"`
	Image     *string `json:"image"`
}

// errorBody is devise's render_error shape.
type errorBody struct {
	Success bool     `json:"success"`
	Errors  []string `json:"errors"`
}

// writeError is the dialect's httpx.ErrorWriter: {"success":false,"errors":[msg]}.
func writeError(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	httpx.WriteJSON(w, status, errorBody{Errors: []string{msg}})
}

// fieldErrors are a refused record's errors, per field in order, as devise renders them.
type fieldErrors struct {
	fields []string
	msgs   map[string][]string
}

func (e *fieldErrors) add(field, msg string) {
	if e.msgs == nil {
		e.msgs = map[string][]string{}
	}
	if _, ok := e.msgs[field]; !ok {
		e.fields = append(e.fields, field)
	}
	e.msgs[field] = append(e.msgs[field], msg)
}

func (e *fieldErrors) empty() bool { return len(e.fields) == 0 }

// fieldLabels are the humanized attribute names of devise's full messages.
var fieldLabels = map[string]string{
	"email": "Email", "password": "Password", "password_confirmation": "Password confirmation",
	"current_password": "Current password", "first_name": "First name", "last_name": "Last name",
	"name": "Name",
}

// MarshalJSON writes {field: [messages], ..., "full_messages": [...]}, Rails'
// errors.to_hash merged with full_messages. Errors on "base" have no label.
func (e *fieldErrors) MarshalJSON() ([]byte, error) {
	out := make(map[string][]string, len(e.fields)+1)
	full := []string{}
	for _, f := range e.fields {
		out[f] = e.msgs[f]
		for _, m := range e.msgs[f] {
			if label, ok := fieldLabels[f]; ok {
				m = label + " " + m
			}
			full = append(full, m)
		}
	}
	out["full_messages"] = full
	return json.Marshal(out)
}

// registrationError is devise's refused registration.
type registrationError struct {
	Status string       `json:"status"`
	Data   unsavedUser  `json:"data"`
	Errors *fieldErrors `json:"errors"`
}

// recordError is devise's refused password update: {"success":false,"errors":{...}}.
type recordError struct {
	Success bool         `json:"success"`
	Errors  *fieldErrors `json:"errors"`
}

// setAuthHeaders writes the five auth headers of a session: the token, its type, the client
// (the session ID), the session's deadline in Unix seconds, and the uid.
func setAuthHeaders(w http.ResponseWriter, a core.Auth) {
	h := w.Header()
	h.Set(keyAccessToken, a.Token.String())
	h.Set(keyTokenType, "Bearer")
	h.Set(keyClient, a.Session.ID)
	h.Set(keyExpiry, strconv.FormatInt(a.Session.Deadline().Unix(), 10))
	h.Set(keyUID, a.User.Login)
}

// clearAuthHeaders removes the auth headers set earlier in the response.
func clearAuthHeaders(w http.ResponseWriter) {
	for _, k := range []string{keyAccessToken, keyTokenType, keyClient, keyExpiry, keyUID} {
		w.Header().Del(k)
	}
}

// authOf is the Auth of a session just issued to u.
func authOf(u store.User, is core.Issued) core.Auth {
	return core.Auth{User: u, Session: is.Session, Token: is.Token}
}
