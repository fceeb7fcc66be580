package core

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// OwnSessions authenticates raw and returns its Auth with every live session of its user,
// oldest first: a user's own list of where they are signed in.
func (s *Service) OwnSessions(ctx context.Context, m Meta, raw string) (Auth, []store.Session, error) {
	a, err := s.Authenticate(ctx, m, raw)
	if err != nil {
		return Auth{}, nil, err
	}
	began := time.Now()
	list, err := s.Store.ListSessions(ctx, a.User.ID, s.Now())
	s.observe(m, "list_sessions", began, err)
	if err != nil {
		return Auth{}, nil, internal("list sessions", err)
	}
	return a, list, nil
}

// EndOwnSession authenticates raw and ends sessionID, one of its user's live sessions (the
// current one included). Live sockets of the ended session get close. ErrNoSuchSession when
// the user has no such live session: another user's session ID is just as unknown.
func (s *Service) EndOwnSession(ctx context.Context, m Meta, raw, sessionID string) (Auth, error) {
	a, err := s.Authenticate(ctx, m, raw)
	if err != nil {
		return Auth{}, err
	}
	began := time.Now()
	_, err = s.Store.RevokeSession(ctx, store.SessionRef{UserID: a.User.ID, SessionID: sessionID}, "", store.ReasonLogout, s.Now())
	s.observe(m, "end_session", began, err)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalidArgument):
		return a, ErrNoSuchSession
	case err != nil:
		return a, internal("end session", err)
	}
	s.audit(ctx, m, "session.end", a.User.ID, outcomeSuccess, slog.String("session_id", sessionID),
		slog.Bool("current", sessionID == a.Session.ID))
	return a, nil
}

// EndOtherSessions authenticates raw and ends every other session of its user, returning
// their IDs ("sign out everywhere else").
func (s *Service) EndOtherSessions(ctx context.Context, m Meta, raw string) ([]string, error) {
	a, err := s.Authenticate(ctx, m, raw)
	if err != nil {
		return nil, err
	}
	return s.RevokeAll(ctx, m, a.User.ID, a.Session.ID, store.ReasonRevokeAll)
}
