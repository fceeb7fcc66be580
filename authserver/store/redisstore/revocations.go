package redisstore

import (
	"context"
	"errors"
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

// Heartbeats keep a subscription honest. A pub/sub connection can outlive its use without
// an error: after a Sentinel failover it stays on the demoted master, which hears nothing
// until it has resynchronised with the new one (about 9 s in the fault harness), and go-redis
// moves only its command pool to the new master. So every subscriber publishes a heartbeat
// on a channel of its own beside the revocations; when its heartbeats reach Redis but it
// stops hearing anything, it subscribes again (a resync covers what it missed).
//
// Subscribing again is retried every heartbeatPeriod until it succeeds, here rather than by
// the caller's back-off: the subscription went silent while Redis took heartbeats, so Redis
// is partly up, and the subscription is usually one slot map refresh or one promotion away.
// In a cluster, go-redis puts the subscription on the master of the channel's slot; when that
// master dies, every attempt dials it until the map names its replica. Handing each failure
// to the socket hub's doubling back-off made the attempt that finally succeeded land up to 4 s
// after the replica took over (the late socket closes of the fault harness).
const (
	heartbeatPeriod = 200 * time.Millisecond
	// silentAfter is how much longer than the last message heard a published heartbeat may
	// go unheard before the subscription is renewed.
	silentAfter = 3 * heartbeatPeriod
)

// SubscribeRevocations implements store.Store over Redis pub/sub. go-redis reconnects and
// resubscribes by itself after a connection loss, but messages published meanwhile are gone
// (pub/sub does not queue), so every resubscription after the first is reported as a Resync;
// a subscription that goes silent while Redis takes writes is renewed (heartbeats above), with
// a Resync too.
func (s *Store) SubscribeRevocations(ctx context.Context) (<-chan store.RevocationEvent, error) {
	ps, err := s.subscribe(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	feed := store.NewEventFeed(ctx)
	go func() {
		defer cancel()
		for {
			silent := s.follow(ctx, ps, feed)
			s.closeSub(ps)
			if !silent {
				return
			}
			s.stats.resubscribes.Add(1)
			if ps = s.resubscribe(ctx); ps == nil {
				return // ctx ended or the store closed: the feed closes
			}
			feed.Send(store.RevocationEvent{Resync: true})
		}
	}()
	return feed.Events(), nil
}

// resubscribe subscribes again after a silence, every heartbeatPeriod until it succeeds
// (see the heartbeats above); it returns nil once ctx ends or the store closes.
func (s *Store) resubscribe(ctx context.Context) *redis.PubSub {
	for {
		ps, err := s.subscribe(ctx)
		if err == nil {
			return ps
		}
		if errors.Is(err, errClosed) || s.isClosed() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(heartbeatPeriod):
		}
	}
}

// subscribe subscribes to the revocation and heartbeat channels and waits for the
// confirmation, so events published after it returns are delivered. A failure reloads a
// cluster's slot map: the subscription goes to the master of the channel's slot, and the
// map may still name one that died.
func (s *Store) subscribe(ctx context.Context) (*redis.PubSub, error) {
	via, err := s.subscriber(ctx)
	if err != nil {
		return nil, wrapErr("subscribe revocations", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	ps := via.Subscribe(ctx, s.keys.revocations(), s.keys.heartbeats())
	s.subs[ps] = struct{}{}
	s.mu.Unlock()
	if _, err := ps.ReceiveTimeout(ctx, subscribeTimeout); err != nil {
		s.noteError(err)
		s.closeSub(ps)
		return nil, wrapErr("subscribe revocations", err)
	}
	return ps, nil
}

// subscriber returns the client to subscribe with. In a cluster that is the node client of
// the master the slot map names for the revocation channel's slot (where go-redis's own
// cluster subscription goes), once that node has said it is a master. A map still naming a
// master that died and came back names a node that restarted a moment ago: it takes the
// SUBSCRIBE, but the other nodes have not yet reopened their cluster bus links to it, so it
// does not hear what they publish meanwhile, and it hears the heartbeats soon after, so the
// loss goes unnoticed (a socket never closed, in the fault harness). Such a node reports
// itself a replica within milliseconds of its start: the map is reloaded and the caller
// retries. A node client also keeps the subscription on that node across go-redis's own
// reconnections; when the node dies, the silence above moves it.
func (s *Store) subscriber(ctx context.Context) (interface {
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}, error) {
	cc, ok := s.client.(*redis.ClusterClient)
	if !ok {
		return s.client, nil
	}
	node, err := cc.MasterForKey(ctx, s.keys.revocations())
	if err != nil {
		s.noteError(err)
		return nil, err
	}
	role, err := node.Do(upkeep(ctx), "ROLE").Slice()
	if err != nil {
		s.noteError(err)
		return nil, err
	}
	if len(role) == 0 || role[0] != "master" {
		s.topology.refresh()
		return nil, fmt.Errorf("%w: the slot map names %s as the master of the revocation channel's slot, and its role is %v",
			store.ErrUnavailable, node.Options().Addr, role)
	}
	return node, nil
}

// follow forwards ps's messages to feed until ctx ends or the store closes the subscription
// (false), or until the subscription goes silent while heartbeats reach Redis (true).
func (s *Store) follow(ctx context.Context, ps *redis.PubSub, feed *store.EventFeed) (silent bool) {
	msgs := ps.ChannelWithSubscriptions(redis.WithChannelSize(store.FeedBuffer))
	beat := time.NewTicker(heartbeatPeriod)
	defer beat.Stop()
	heard := time.Now()
	s.stats.lastMessage.Store(heard.UnixNano())
	revocations := s.keys.revocations()
	for {
		select {
		case <-ctx.Done():
			return false
		case m, ok := <-msgs:
			if !ok {
				return false // the store closed the subscription
			}
			heard = time.Now()
			s.stats.lastMessage.Store(heard.UnixNano())
			switch m := m.(type) {
			case *redis.Subscription:
				// A reconnection by go-redis: whatever was published meanwhile is gone.
				if m.Kind == "subscribe" && m.Channel == revocations {
					feed.Send(store.RevocationEvent{Resync: true})
				}
			case *redis.Message:
				if m.Channel != revocations {
					continue // a heartbeat
				}
				r, err := decodeRevocation(m.Payload)
				if err != nil {
					// Something announced an end we cannot read: re-checking everything
					// is the safe reading of it.
					feed.Send(store.RevocationEvent{Resync: true})
					continue
				}
				feed.Send(store.RevocationEvent{Revocation: r})
			}
		case <-beat.C:
			// The client's own timeouts bound the publish: a shorter deadline would close a
			// pooled connection whenever the machine is slow, and its replacement costs a
			// handshake.
			err := s.client.Publish(upkeep(ctx), s.keys.heartbeats(), "1").Err()
			s.noteError(err) // a cluster node that stopped answering: reload the slot map
			// Only a heartbeat Redis took says anything: while Redis is away, silence is
			// expected and go-redis reconnects the subscription by itself. Messages waiting
			// to be read are not silence either (this loop was busy, or starved of CPU).
			if err == nil && len(msgs) == 0 && time.Since(heard) > silentAfter {
				return true
			}
		}
	}
}

func (s *Store) closeSub(ps *redis.PubSub) {
	s.mu.Lock()
	delete(s.subs, ps)
	s.mu.Unlock()
	_ = ps.Close() // already closed by Close, or its connection is gone: nothing to do either way
}
