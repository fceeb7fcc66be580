package account

import (
	"errors"
	"net/http"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
)

// The session-list extension (docs/protocol.md#account-sessions): a signed-in user sees where
// they are signed in and ends what they do not recognise. Every session of the user is
// listed, whichever dialect created it.

// ownSession is one entry of GET {prefix}/sessions: the session as administrators see it
// (core.ExportSession), and whether it is the one the request was made with.
type ownSession struct {
	core.ExportedSession
	Current bool `json:"current"`
}

type endSessionRequest struct {
	ID string `json:"id"`
}

const msgNoSuchSession = "no such session"

// sessions: GET {prefix}/sessions → 200 {"sessions": [...]}, oldest first, or 401.
func (h *Handler) sessions(w http.ResponseWriter, r *http.Request) {
	a, list, err := h.Core.OwnSessions(r.Context(), h.Meta(r), h.SessionToken(r))
	if !h.authenticated(w, r, err) {
		return
	}
	out := make([]ownSession, len(list))
	for i, s := range list {
		out[i] = ownSession{ExportedSession: core.ExportSession(s), Current: s.ID == a.Session.ID}
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Sessions []ownSession `json:"sessions"`
	}{out})
}

// endSession: POST {prefix}/sessions/end {"id"} → 204, 404 when the user has no such live
// session, or 401. Ending the current session also drops its cookie.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	var req endSessionRequest
	if !h.Decode(w, r, &req) {
		return
	}
	a, err := h.Core.EndOwnSession(r.Context(), h.Meta(r), h.SessionToken(r), req.ID)
	if errors.Is(err, core.ErrNoSuchSession) {
		writeError(w, r, http.StatusNotFound, msgNoSuchSession)
		return
	}
	if !h.authenticated(w, r, err) {
		return
	}
	if req.ID == a.Session.ID {
		h.ClearSession(w)
	}
	w.WriteHeader(http.StatusNoContent)
}

// endOtherSessions: POST {prefix}/sessions/end-others → 200 {"ended": n}, or 401.
func (h *Handler) endOtherSessions(w http.ResponseWriter, r *http.Request) {
	ended, err := h.Core.EndOtherSessions(r.Context(), h.Meta(r), h.SessionToken(r))
	if !h.authenticated(w, r, err) {
		return
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Ended int `json:"ended"`
	}{len(ended)})
}

// authenticated answers a failed authentication (401) or an internal error (500) and reports
// whether the handler may go on.
func (h *Handler) authenticated(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusUnauthorized, msgNotAuthorized)
	default:
		h.InternalError(w, r, err)
	}
	return false
}
