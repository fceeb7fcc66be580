package keytoken

import (
	"errors"
	"net/http"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
)

// The messages of the answers. Every failed login has one message whatever the cause.
const (
	msgUnknownClient      = "unknown client"
	msgInvalidCredentials = "invalid email or password"
	msgInvalidToken       = "invalid key or token"
	msgInvalidRefresh     = "invalid key or refresh token"
	msgEmailTaken         = "email is already taken"
	// The PATCH users refusals of the password a change of email needs. A wrong one is a 401
	// of its own message: the session itself is fine.
	msgPasswordRequired     = "password is required to change the email"
	msgPasswordWithoutEmail = "password is only taken to confirm a change of email; passwords change through a reset"
	msgInvalidPassword      = "invalid password"
)

// register: POST {prefix}users {client,email,password,firstName,lastName} → 201
// {role,key,token,refresh,expires}, or 202 {role} when the realm requires the email to be
// confirmed before a login; 400 malformed, 401 unknown client, 409 email taken, 422
// weak password, 403 registration closed, 429 past the rate limits.
func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if !h.Decode(w, r, &req) || !h.client(w, r, req.Client) {
		return
	}
	m := h.Meta(r)
	u, err := h.Core.Register(r.Context(), m, core.Registration{
		Login: req.Email, Email: req.Email, Password: req.Password, FirstName: req.FirstName, LastName: req.LastName,
	})
	var field *core.FieldError
	switch {
	case errors.As(err, &field):
		name := field.Field
		if name == "login" {
			name = "email" // the login is the email here
		}
		writeError(w, r, http.StatusBadRequest, name+" "+field.Reason)
		return
	case errors.Is(err, core.ErrLoginTaken):
		writeError(w, r, http.StatusConflict, msgEmailTaken)
		return
	case errors.Is(err, core.ErrWeakPassword):
		writeError(w, r, http.StatusUnprocessableEntity, err.Error())
		return
	case errors.Is(err, core.ErrRegistrationClosed):
		writeError(w, r, http.StatusForbidden, err.Error())
		return
	case errors.Is(err, core.ErrRateLimited):
		writeError(w, r, http.StatusTooManyRequests, err.Error())
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	if !h.Core.MayLogIn(u) {
		// registration.emailConfirmation Required: the account exists, and credentials come
		// from a login once the email is confirmed.
		httpx.WriteJSON(w, http.StatusAccepted, struct {
			Role string `json:"role"`
		}{roleOf(u)})
		return
	}
	issued, err := h.Core.IssueSession(r.Context(), m, u, h.sessionOptions(req.Client))
	if errors.Is(err, core.ErrUnknownClient) {
		writeError(w, r, http.StatusUnauthorized, msgUnknownClient)
		return
	}
	if err != nil {
		// The account exists; the client can log in once the store answers again.
		h.InternalError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, credentialsOf(u, issued))
}

// login: POST {prefix}users/token {client,email,password} → 200
// {role,key,token,refresh,expires}; 401.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !h.Decode(w, r, &req) || !h.client(w, r, req.Client) {
		return
	}
	m := h.Meta(r)
	m.Device = httpx.DeviceCookie(r, h.Config)
	u, issued, err := h.Core.Login(r.Context(), m, core.LoginRequest{
		Login: req.Email, Password: req.Password, Session: h.sessionOptions(req.Client),
	})
	switch {
	case errors.Is(err, core.ErrInvalidCredentials), errors.Is(err, core.ErrDeviceLimit):
		writeError(w, r, http.StatusUnauthorized, msgInvalidCredentials)
		return
	case errors.Is(err, core.ErrUnknownClient):
		writeError(w, r, http.StatusUnauthorized, msgUnknownClient)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	httpx.SetDeviceCookie(w, h.Config, issued.Device)
	httpx.WriteJSON(w, http.StatusOK, credentialsOf(u, issued))
}

// refresh: POST {prefix}users/token/refresh {client,key,refresh} → 200
// {key,token,refresh,expires}; 401. The refresh token is spent; presenting it again revokes
// the session (the store's reuse detection).
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if !h.Decode(w, r, &req) || !h.client(w, r, req.Client) {
		return
	}
	ref, ok := parseKey(req.Key)
	if !ok {
		writeError(w, r, http.StatusUnauthorized, msgInvalidRefresh)
		return
	}
	// The session must be one this dialect issued to this client. Checked before the refresh,
	// which would otherwise spend the token of a request about to be refused.
	sess, err := h.Core.Store.GetSession(r.Context(), ref, h.Core.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, r, http.StatusUnauthorized, msgInvalidRefresh)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	case sess.Dialect != Name || sess.ClientName != req.Client:
		writeError(w, r, http.StatusUnauthorized, msgInvalidRefresh)
		return
	}
	res, err := h.Core.Refresh(r.Context(), h.Meta(r), ref, req.Refresh, h.settings.AccessTokenLifespan.Duration)
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusUnauthorized, msgInvalidRefresh)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, refreshed{
		Key:     keyOf(ref),
		Token:   res.Token.Secret,
		Refresh: res.Refresh,
		Expires: timestamp(expiresOf(res.Session)),
	})
}

// logout: DELETE {prefix}users/token (Basic) {client} → 204; 401. The client field is read
// (a malformed body is 400) but not checked: the key and token name the session and prove
// its possession, and its holder may always end it.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	a, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	var req logoutRequest
	if !h.DecodeOptional(w, r, &req) {
		return
	}
	err := h.Core.Logout(r.Context(), h.Meta(r), a.Token.String())
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusUnauthorized, msgInvalidToken) // ended meanwhile
	case err != nil:
		h.InternalError(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// me: GET {prefix}users (Basic) → 200 user; 401.
func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	a, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	httpx.WriteJSON(w, http.StatusOK, userOf(a.User))
}

// update: PATCH {prefix}users (Basic) {email,firstName,lastName,password} → 200 user; 400
// malformed or refused field (an email change without password), 401, 409 email taken. A new
// email needs the current password (401 when wrong, counted like a failed login) and waits for
// confirmation from a mail sent to it (the user's unconfirmedEmail); the login moves then.
func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	a, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	var req updateRequest
	if !h.Decode(w, r, &req) {
		return
	}
	switch {
	case req.Password != nil && req.Email == nil:
		writeError(w, r, http.StatusBadRequest, msgPasswordWithoutEmail)
		return
	case req.Role != nil:
		writeError(w, r, http.StatusBadRequest, "role cannot be changed by its user")
		return
	}
	c := core.ProfileChange{Email: req.Email, FirstName: req.FirstName, LastName: req.LastName}
	if req.Password != nil {
		c.Password = *req.Password
	}
	// A wrong password is judged like a login: from a device that signed in before, by that
	// device's own counter.
	m := h.Meta(r)
	m.Device = httpx.DeviceCookie(r, h.Config)
	u, err := h.Core.UpdateProfile(r.Context(), m, a.User.ID, c)
	var field *core.FieldError
	switch {
	case errors.As(err, &field):
		writeError(w, r, http.StatusBadRequest, field.Error())
	case errors.Is(err, core.ErrPasswordRequired):
		writeError(w, r, http.StatusBadRequest, msgPasswordRequired)
	case errors.Is(err, core.ErrInvalidCredentials):
		writeError(w, r, http.StatusUnauthorized, msgInvalidPassword)
	case errors.Is(err, core.ErrLoginTaken):
		writeError(w, r, http.StatusConflict, msgEmailTaken)
	case errors.Is(err, core.ErrRateLimited):
		writeError(w, r, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusUnauthorized, msgInvalidToken) // the user is gone
	case err != nil:
		h.InternalError(w, r, err)
	default:
		httpx.WriteJSON(w, http.StatusOK, userOf(u))
	}
}

// client answers 401 (or 500) unless client is acceptable (checkClient), and reports
// whether the handler may go on.
func (h *Handler) client(w http.ResponseWriter, r *http.Request, client string) bool {
	err := h.checkClient(r.Context(), client)
	switch {
	case errors.Is(err, errUnknownClient):
		writeError(w, r, http.StatusUnauthorized, msgUnknownClient)
	case err != nil:
		h.InternalError(w, r, err)
	default:
		return true
	}
	return false
}

// authenticate checks the Basic credentials, answering the client itself when they do not
// authenticate (401) or the store fails (500). Only this dialect's sessions are accepted:
// their access token expires after accessTokenLifespan, and other dialects' tokens (a cookie
// session of weeks) would bypass it. No WWW-Authenticate challenge is sent: with Basic it
// makes browsers prompt for a password over a single-page app.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (core.Auth, bool) {
	tok, ok := basicCredentials(r.Header.Values("Authorization"))
	if !ok {
		writeError(w, r, http.StatusUnauthorized, msgInvalidToken)
		return core.Auth{}, false
	}
	a, err := h.Core.Authenticate(r.Context(), h.Meta(r), tok.String())
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusUnauthorized, msgInvalidToken)
	case err != nil:
		h.InternalError(w, r, err)
	case a.Session.Dialect != Name:
		writeError(w, r, http.StatusUnauthorized, msgInvalidToken)
	default:
		return a, true
	}
	return core.Auth{}, false
}

// credentialsOf builds the answer of a registration or login: the session token split into
// its key and its secret.
func credentialsOf(u store.User, is core.Issued) credentials {
	return credentials{
		Role:    roleOf(u),
		Key:     keyOf(is.Session.Ref()),
		Token:   is.Token.Secret,
		Refresh: is.Refresh,
		Expires: timestamp(expiresOf(is.Session)),
	}
}
