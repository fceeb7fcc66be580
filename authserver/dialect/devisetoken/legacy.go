package devisetoken

import (
	"net/http"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
)

// Migrated tokens. Users imported from devise_token_auth (latch admin import) keep the tokens
// their clients hold: a request whose access-token is not a session token of this server but
// looks like devise's (SecureRandom.urlsafe_base64: 22 characters by default) is exchanged
// once, with its client and uid, for a session here (core.ExchangeLegacyToken), and the
// response carries the new session's headers as any rotation would: access-token, and a
// client that is now the new session's ID. devise clients store whatever auth headers a
// response carries (j-toker's and redux-token-auth's response hooks persist every one of
// them, client included), so the user never sees a logout. Racing requests inside the batch
// buffer are exchanged too, each for its own session.

// Bounds on what is taken for a devise token: anything else is refused without a store
// round trip, as a malformed session token is.
const (
	minLegacyTokenLen = 16
	maxLegacyTokenLen = 128
)

// legacyToken reports whether c can be a devise_token_auth token: a uid, a client ID the store
// accepts, and an access token of URL-safe base64 within the bounds.
func legacyToken(c credentials) bool {
	t := c.AccessToken
	if c.UID == "" || !store.ValidClientID(c.Client) || len(t) < minLegacyTokenLen || len(t) > maxLegacyTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		if b := t[i]; !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '=') {
			return false
		}
	}
	return true
}

// exchangeLegacy exchanges a migrated token for a session of this dialect, shaped as a
// sign-in's (the realm's device policy; the client's old session, if any, is not this
// server's, so nothing is replaced).
func (h *Handler) exchangeLegacy(r *http.Request, c credentials) (core.Auth, error) {
	return h.Core.ExchangeLegacyToken(r.Context(), h.Meta(r), core.LegacyExchange{
		UID: c.UID, Client: c.Client, Token: c.AccessToken,
		Grace:   h.settings.BatchRequestBuffer.Duration,
		Session: h.sessionOptions(h.settings.DevicePolicy, ""),
	})
}
