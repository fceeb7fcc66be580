package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store"
)

// subscribeTimeout bounds the wait for the server to confirm a subscription.
const subscribeTimeout = 5 * time.Second

// PublishRevocation implements store.Store.
func (s *Store) PublishRevocation(ctx context.Context, r store.Revocation) error {
	if !store.ValidID(r.UserID) || !store.ValidID(r.SessionID) || !store.ValidReason(r.Reason) || r.At.IsZero() {
		return fmt.Errorf("%w: malformed revocation %+v", store.ErrInvalidArgument, r)
	}
	if s.isClosed() {
		return errClosed
	}
	return wrapErr("publish revocation", s.client.Publish(ctx, s.keys.revocations(), encodeRevocation(r)).Err())
}

// SubscribeRevocations implements store.Store over Redis pub/sub. go-redis reconnects and
// resubscribes by itself after a connection loss, but messages published meanwhile are gone
// (pub/sub does not queue), so every resubscription after the first is reported as a Resync.
func (s *Store) SubscribeRevocations(ctx context.Context) (<-chan store.RevocationEvent, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	ps := s.client.Subscribe(ctx, s.keys.revocations())
	s.subs[ps] = struct{}{}
	s.mu.Unlock()

	// Wait for the confirmation, so events published after this returns are delivered.
	if _, err := ps.ReceiveTimeout(ctx, subscribeTimeout); err != nil {
		s.closeSub(ps)
		return nil, wrapErr("subscribe revocations", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	feed := store.NewEventFeed(ctx)
	msgs := ps.ChannelWithSubscriptions(redis.WithChannelSize(store.FeedBuffer))
	go func() {
		defer cancel()
		defer s.closeSub(ps)
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return // the store closed the subscription
				}
				switch m := m.(type) {
				case *redis.Subscription:
					if m.Kind == "subscribe" {
						feed.Send(store.RevocationEvent{Resync: true})
					}
				case *redis.Message:
					r, err := decodeRevocation(m.Payload)
					if err != nil {
						// Something announced an end we cannot read: re-checking everything
						// is the safe reading of it.
						feed.Send(store.RevocationEvent{Resync: true})
						continue
					}
					feed.Send(store.RevocationEvent{Revocation: r})
				}
			}
		}
	}()
	return feed.Events(), nil
}

func (s *Store) closeSub(ps *redis.PubSub) {
	s.mu.Lock()
	delete(s.subs, ps)
	s.mu.Unlock()
	_ = ps.Close() // already closed by Close, or its connection is gone: nothing to do either way
}
