package account

import (
	"errors"
	"net/http"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/token"
)

// The messages of the 401 answers. The login failure has one message whatever the cause.
const (
	msgNotAuthorized      = "not authorized"
	msgInvalidCredentials = "invalid login or password"
)

// session: GET {prefix}/session → 200 User, or 401.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	raw := h.SessionToken(r)
	if raw == "" {
		writeError(w, r, http.StatusUnauthorized, msgNotAuthorized)
		return
	}
	a, err := h.Core.Authenticate(r.Context(), h.Meta(r), raw)
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusUnauthorized, msgNotAuthorized)
	case err != nil:
		h.InternalError(w, r, err)
	default:
		httpx.WriteJSON(w, http.StatusOK, userOf(a.User))
	}
}

// login: POST {prefix}/login {login,password} → 200 User + cookie, or 401.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !h.Decode(w, r, &req) {
		return
	}
	m := h.Meta(r)
	m.Device = httpx.DeviceCookie(r, h.Config)
	u, issued, err := h.Core.Login(r.Context(), m, core.LoginRequest{Login: req.Login, Password: req.Password})
	switch {
	case errors.Is(err, core.ErrInvalidCredentials), errors.Is(err, core.ErrDeviceLimit):
		writeError(w, r, http.StatusUnauthorized, msgInvalidCredentials)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	// The browser is switching sessions: end the one it held, if it still authenticates.
	if old := h.SessionToken(r); old != "" {
		if err := h.Core.Logout(r.Context(), m, old); err != nil && !errors.Is(err, core.ErrInvalidToken) {
			h.Logger.WarnContext(r.Context(), "cannot end the session replaced by a login",
				"request_id", m.RequestID, "error", err)
		}
	}
	h.SetSession(w, issued.Token.String(), issued.Session.ExpiresAt)
	httpx.SetDeviceCookie(w, h.Config, issued.Device)
	httpx.WriteJSON(w, http.StatusOK, userOf(u))
}

// logout: POST {prefix}/logout → 204 and the cookie cleared, with or without a session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if raw := h.SessionToken(r); raw != "" {
		err := h.Core.Logout(r.Context(), h.Meta(r), raw)
		if err != nil && !errors.Is(err, core.ErrInvalidToken) {
			// The session may still be live: do not tell the client it is gone.
			h.InternalError(w, r, err)
			return
		}
	}
	h.ClearSession(w)
	w.WriteHeader(http.StatusNoContent)
}

// register: POST {prefix}/register {login,password,firstName,lastName} → 200 User + cookie (no
// cookie while the user must confirm the email first);
// 400 for a malformed field, 401 for a refusal, 429 past the rate limits.
func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if !h.Decode(w, r, &req) {
		return
	}
	m := h.Meta(r)
	u, err := h.Core.Register(r.Context(), m, core.Registration{
		Login: req.Login, Password: req.Password, FirstName: req.FirstName, LastName: req.LastName,
	})
	var field *core.FieldError
	switch {
	case errors.As(err, &field):
		writeError(w, r, http.StatusBadRequest, field.Error())
		return
	case errors.Is(err, core.ErrRegistrationClosed), errors.Is(err, core.ErrLoginTaken), errors.Is(err, core.ErrWeakPassword):
		writeError(w, r, http.StatusUnauthorized, err.Error())
		return
	case errors.Is(err, core.ErrRateLimited):
		writeError(w, r, http.StatusTooManyRequests, err.Error())
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	if h.Core.MayLogIn(u) {
		// Pending under registration.emailConfirmation Required: the user, without a session.
		issued, err := h.Core.IssueSession(r.Context(), m, u, core.SessionOptions{})
		if err != nil {
			// The account exists; the client can log in once the store answers again.
			h.InternalError(w, r, err)
			return
		}
		h.SetSession(w, issued.Token.String(), issued.Session.ExpiresAt)
	}
	httpx.WriteJSON(w, http.StatusOK, userOf(u))
}

// forgot: POST {prefix}/forgot {login} → 204 for any login; 429 past the rate limits.
func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	var req forgotRequest
	if !h.Decode(w, r, &req) {
		return
	}
	err := h.Core.Forgot(r.Context(), h.Meta(r), req.Login, nil)
	switch {
	case errors.Is(err, core.ErrRateLimited):
		writeError(w, r, http.StatusTooManyRequests, err.Error())
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// reset: POST {prefix}/reset {id,token,password} → 204; every failure is 500 (the seed's
// contract) except a body that cannot be a reset request (400).
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if !h.Decode(w, r, &req) || !validLink(w, r, req.ID, req.Token) {
		return
	}
	err := h.Core.Reset(r.Context(), h.Meta(r), req.ID, req.Token, req.Password)
	h.linkResult(w, r, err)
}

// confirm: POST {prefix}/confirm {id,token} → 204; every failure is 500 but a malformed body.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	var req confirmRequest
	if !h.Decode(w, r, &req) || !validLink(w, r, req.ID, req.Token) {
		return
	}
	_, err := h.Core.Confirm(r.Context(), h.Meta(r), req.ID, req.Token)
	h.linkResult(w, r, err)
}

// validLink answers 400 unless id and token have the shapes of a user ID and a secret: a
// value that cannot be ours is a malformed field, not a failed reset.
func validLink(w http.ResponseWriter, r *http.Request, id, secret string) bool {
	switch {
	case !token.ValidID(id):
		writeError(w, r, http.StatusBadRequest, "malformed request body: id is not a user id")
	case !token.ValidSecret(secret):
		writeError(w, r, http.StatusBadRequest, "malformed request body: token is not a token")
	default:
		return true
	}
	return false
}

// linkResult answers a reset or confirm: 204, or 500 with a message saying what failed.
func (h *Handler) linkResult(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusInternalServerError, "invalid or expired token")
	case errors.Is(err, core.ErrWeakPassword):
		writeError(w, r, http.StatusInternalServerError, err.Error())
	case errors.Is(err, core.ErrLoginTaken):
		// A confirmed email change whose address another account took meanwhile: nothing moved.
		writeError(w, r, http.StatusInternalServerError, "the new email address is taken by another account")
	default:
		h.InternalError(w, r, err)
	}
}
