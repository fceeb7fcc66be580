package core

import (
	"context"
	"errors"
	"time"

	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// AuthenticateDevice checks a device token `<clientID>.<secret>` minted by the operator, in one
// store round trip: the token is parsed strictly (a malformed one never reaches the store),
// and the registration is looked up by the client ID it names and the hash of its secret, so
// a token can only match its own client. A token that is malformed, unknown, deleted or
// expired is ErrInvalidToken; anything else is internal.
func (s *Service) AuthenticateDevice(ctx context.Context, m Meta, raw string) (_ store.DeviceToken, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "authenticate_device", began, err) }()

	tok, err := token.ParseDeviceToken(raw)
	if err != nil {
		return store.DeviceToken{}, ErrInvalidToken
	}
	dt, err := s.Store.GetDeviceToken(ctx, tok.ClientID, s.Hasher.Hash(tok.Secret), now)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalidToken):
		return store.DeviceToken{}, ErrInvalidToken
	case err != nil:
		return store.DeviceToken{}, internal("authenticate device", err)
	case dt.ClientID != tok.ClientID:
		// The store keys registrations by client; a record naming another client is corrupt,
		// and must not authenticate as either.
		return store.DeviceToken{}, internal("authenticate device", errors.New("device token registration names another client"))
	}
	return dt, nil
}
