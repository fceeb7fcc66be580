package bearertoken

import (
	"errors"
	"net/http"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// login: POST {prefix}/auth {login,password} → 200 content {token,created,expires};
// 401 INVALID_CREDENTIALS for every failure; 500 AUTH_FAILED.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	body, ok := h.ReadBody(w, r)
	if !ok {
		return
	}
	var req loginRequest
	if err := httpx.ParseJSON(body, &req); err != nil {
		h.BadBody(w, r, err)
		return
	}
	m := h.Meta(r)
	m.Device = httpx.DeviceCookie(r, h.Config)
	_, issued, err := h.Core.Login(r.Context(), m, core.LoginRequest{
		Login:    req.Login,
		Password: req.Password,
		Session:  h.sessionOptions(),
	})
	switch {
	case errors.Is(err, core.ErrInvalidCredentials), errors.Is(err, core.ErrDeviceLimit):
		writeStatus(w, http.StatusUnauthorized, codeInvalidCredentials, msgInvalidCredentials)
		return
	case err != nil:
		h.internalError(w, r, err, codeAuthFailed, msgAuthFailed)
		return
	}
	httpx.SetDeviceCookie(w, h.Config, issued.Device)
	httpx.WriteJSON(w, http.StatusOK, envelope{Status: statusOK, Content: tokenContent{
		Token:   issued.Token.String(),
		Created: timestamp(issued.Session.CreatedAt),
		Expires: timestamp(issued.Session.Deadline()),
	}})
}

// introspect: GET {prefix}/auth with a bearer token → 200 content with the token's metadata;
// 401 INVALID_TOKEN. One store round trip for either kind of token.
func (h *Handler) introspect(w http.ResponseWriter, r *http.Request) {
	raw, kind := credentials(r)
	switch kind {
	case kindUser:
		a, ok := h.authenticateUser(w, r, raw)
		if !ok {
			return
		}
		httpx.WriteJSON(w, http.StatusOK, envelope{Status: statusOK, Content: tokenInfo{
			Type:    "user",
			Created: timestamp(a.Session.CreatedAt),
			Expires: timestamp(a.Session.Deadline()),
			UserID:  &a.User.ID,
		}})
	case kindDevice:
		dt, ok := h.authenticateDevice(w, r, raw)
		if !ok {
			return
		}
		deviceID := dt.DeviceID
		if deviceID == "" {
			// A registration without a device ID names its device by its client.
			deviceID = dt.ClientID
		}
		roles := dt.Roles
		if roles == nil {
			roles = []string{}
		}
		httpx.WriteJSON(w, http.StatusOK, envelope{Status: statusOK, Content: tokenInfo{
			Type:     "device",
			Created:  timestamp(dt.CreatedAt),
			Expires:  timestamp(dt.ExpiresAt),
			DeviceID: &deviceID,
			ClientID: dt.ClientID,
			Roles:    roles,
		}})
	default:
		invalidToken(w)
	}
}

// revoke: DELETE {prefix}/auth with a bearer token → 200 status OK, the user token revoked;
// 401 INVALID_TOKEN. A valid device token is 403: the operator is the only writer of device
// registrations, so a device cannot revoke (or be tricked into revoking) its own.
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	raw, kind := credentials(r)
	switch kind {
	case kindUser:
		// Authenticate first, to refuse other dialects' tokens exactly as GET does; the logout
		// then checks the token again and ends the session in one atomic step.
		if _, ok := h.authenticateUser(w, r, raw); !ok {
			return
		}
		err := h.Core.Logout(r.Context(), h.Meta(r), raw)
		switch {
		case errors.Is(err, core.ErrInvalidToken):
			invalidToken(w) // ended by a racing request meanwhile
		case err != nil:
			h.internalError(w, r, err, codeAuthFailed, msgAuthFailed)
		default:
			httpx.WriteJSON(w, http.StatusOK, envelope{Status: statusOK})
		}
	case kindDevice:
		if _, ok := h.authenticateDevice(w, r, raw); !ok {
			return
		}
		writeStatus(w, http.StatusForbidden, codeForbidden, msgDeviceRevocation)
	default:
		invalidToken(w)
	}
}

// activate: POST {prefix}/users/activate {activation_token} (or wrapped in content) → 200
// {login,email,active:true}; 400 INVALID_TOKEN; 500 ACTIVATION_FAILED.
func (h *Handler) activate(w http.ResponseWriter, r *http.Request) {
	body, ok := h.ReadBody(w, r)
	if !ok {
		return
	}
	raw, err := parseActivation(body)
	switch {
	case errors.Is(err, errNoActivationToken):
		writeStatus(w, http.StatusBadRequest, codeInvalidToken, msgInvalidToken)
		return
	case err != nil:
		h.BadBody(w, r, err)
		return
	}
	tok, err := token.ParseUserToken(raw)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, codeInvalidToken, msgInvalidToken)
		return
	}
	u, err := h.Core.Confirm(r.Context(), h.Meta(r), tok.UserID, tok.Secret)
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		writeStatus(w, http.StatusBadRequest, codeInvalidToken, msgInvalidToken)
		return
	case errors.Is(err, core.ErrLoginTaken):
		// The token confirmed an email change whose address another account took meanwhile:
		// nothing moved (core.Confirm).
		writeStatus(w, http.StatusInternalServerError, codeActivationFailed, msgActivationTaken)
		return
	case err != nil:
		h.internalError(w, r, err, codeActivationFailed, msgActivationFailed)
		return
	case u.Status != store.StatusActive:
		// A disabled account stays disabled (core.Confirm): nothing was activated.
		writeStatus(w, http.StatusBadRequest, codeInvalidToken, msgInvalidToken)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, activated{Status: statusOK, Login: u.Login, Email: u.Email, Active: true})
}

// credentials returns the request's bearer token and its kind; kindInvalid when there is
// none or it cannot be one of ours.
func credentials(r *http.Request) (string, tokenKind) {
	raw, ok := bearerCredentials(r.Header.Values("Authorization"))
	if !ok {
		return "", kindInvalid
	}
	return raw, kindOf(raw)
}

// authenticateUser checks a user token, answering the client itself when it does not
// authenticate (401) or the store fails (500). Only this dialect's tokens are accepted:
// other dialects' sessions have other lifetimes (a cookie session lives for weeks), and a
// service introspecting a bearer token must not be handed one of them.
func (h *Handler) authenticateUser(w http.ResponseWriter, r *http.Request, raw string) (core.Auth, bool) {
	a, err := h.Core.Authenticate(r.Context(), h.Meta(r), raw)
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		invalidToken(w)
	case err != nil:
		h.internalError(w, r, err, codeAuthFailed, msgAuthFailed)
	case a.Session.Dialect != Name:
		invalidToken(w)
	default:
		return a, true
	}
	return core.Auth{}, false
}

// authenticateDevice checks a device token against the operator's registrations, answering
// the client itself when it does not authenticate (401) or the store fails (500).
func (h *Handler) authenticateDevice(w http.ResponseWriter, r *http.Request, raw string) (store.DeviceToken, bool) {
	dt, err := h.Core.AuthenticateDevice(r.Context(), h.Meta(r), raw)
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		invalidToken(w)
	case err != nil:
		h.internalError(w, r, err, codeAuthFailed, msgAuthFailed)
	default:
		return dt, true
	}
	return store.DeviceToken{}, false
}

// invalidToken answers 401 INVALID_TOKEN with the RFC 6750 challenge.
func invalidToken(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeStatus(w, http.StatusUnauthorized, codeInvalidToken, msgInvalidToken)
}
