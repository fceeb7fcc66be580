package redisstore

import (
	"context"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// IssueOneTimeToken implements store.Store.
func (s *Store) IssueOneTimeToken(ctx context.Context, t store.OneTimeToken, now time.Time) error {
	if err := t.Validate(now); err != nil {
		return err
	}
	res, err := s.write(ctx, "issue one-time token", issueOneTimeScript,
		[]string{s.keys.user(t.UserID), s.keys.oneTime(t.UserID, t.Kind)},
		t.Hash, msString(t.ExpiresAt), msString(now), t.Keep)
	if err != nil {
		return err
	}
	switch status(res) {
	case "ok":
		return nil
	case "nouser":
		return store.ErrNotFound
	}
	return unexpected("issue one-time token", res)
}

// ConsumeOneTimeToken implements store.Store.
func (s *Store) ConsumeOneTimeToken(ctx context.Context, userID string, kind store.OneTimeKind, hash string, now time.Time) error {
	if !store.ValidID(userID) || !store.ValidKind(kind) || !store.ValidID(hash) {
		return store.ErrInvalidToken
	}
	res, err := s.write(ctx, "consume one-time token", consumeOneTimeScript,
		[]string{s.keys.oneTime(userID, kind)}, hash, msString(now))
	if err != nil {
		return err
	}
	switch status(res) {
	case "ok":
		return nil
	case "invalid":
		return store.ErrInvalidToken
	}
	return unexpected("consume one-time token", res)
}
