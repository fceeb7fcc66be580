package reactauth

import (
	"errors"
	"net/http"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
)

// post: POST {prefix}, dispatched on type. A failed credential, or a well-formed request of no
// known type, is 200 with the failure body; a body that does not decode is 400 with it (see
// the package comment).
func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(r, httpx.MaxBodyBytes)
	var req postRequest
	if err == nil {
		req, err = parsePost(r.Header.Get("Content-Type"), body)
	}
	if err != nil {
		switch status := httpx.StatusOf(err); status {
		case http.StatusBadRequest, http.StatusRequestTimeout, http.StatusRequestEntityTooLarge:
			h.BadBody(w, r, err)
		default:
			h.InternalError(w, r, err)
		}
		return
	}
	switch req.Type {
	case typeAuthenticate:
		h.authenticate(w, r, req)
	case typeResume:
		h.resume(w, r)
	default:
		httpx.WriteJSON(w, http.StatusOK, failure)
	}
}

// authenticate: {type, username, password} → 200 success with the session and its cookie.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, req postRequest) {
	m := h.Meta(r)
	m.Device = httpx.DeviceCookie(r, h.Config)
	u, issued, err := h.Core.Login(r.Context(), m, core.LoginRequest{Login: req.Username, Password: req.Password})
	switch {
	case errors.Is(err, core.ErrInvalidCredentials), errors.Is(err, core.ErrDeviceLimit):
		httpx.WriteJSON(w, http.StatusOK, failure)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	raw := issued.Token.String()
	h.SetSession(w, raw, issued.Session.ExpiresAt)
	httpx.SetDeviceCookie(w, h.Config, issued.Device)
	httpx.WriteJSON(w, http.StatusOK, authResponse{Success: true, Session: raw, User: userOf(u)})
}

// resume: {type} with the session cookie → the same response as authenticate, for the
// cookie's session (created by any dialect of the realm).
func (h *Handler) resume(w http.ResponseWriter, r *http.Request) {
	raw := h.SessionToken(r)
	if raw == "" {
		httpx.WriteJSON(w, http.StatusOK, failure)
		return
	}
	a, err := h.Core.Authenticate(r.Context(), h.Meta(r), raw)
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		// The cookie names a session that is over: drop it, so the browser stops sending it.
		h.ClearSession(w)
		httpx.WriteJSON(w, http.StatusOK, failure)
	case err != nil:
		h.InternalError(w, r, err)
	default:
		httpx.WriteJSON(w, http.StatusOK, authResponse{Success: true, Session: raw, User: userOf(a.User)})
	}
}
