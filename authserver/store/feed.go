package store

import (
	"context"
	"sync/atomic"
)

// FeedBuffer is how many revocation events a subscriber may fall behind before events are
// dropped and replaced by a Resync.
const FeedBuffer = 1024

// EventFeed delivers revocation events to one subscriber without ever blocking the publisher:
// a revocation must not wait for a slow socket hub, and a hub that cannot keep up must learn
// that it missed something rather than miss it silently. Backends use it to implement
// SubscribeRevocations.
type EventFeed struct {
	in     chan RevocationEvent
	out    chan RevocationEvent
	wake   chan struct{}
	missed atomic.Bool
}

// NewEventFeed starts a feed that runs until ctx ends, then closes Events.
func NewEventFeed(ctx context.Context) *EventFeed {
	f := &EventFeed{
		in:   make(chan RevocationEvent, FeedBuffer),
		out:  make(chan RevocationEvent),
		wake: make(chan struct{}, 1),
	}
	go f.run(ctx)
	return f
}

// Events is the subscriber's channel.
func (f *EventFeed) Events() <-chan RevocationEvent { return f.out }

// Send queues ev. It never blocks: when the queue is full the event is dropped and a Resync
// is delivered once the subscriber catches up. Send after the feed has stopped is a no-op.
func (f *EventFeed) Send(ev RevocationEvent) {
	select {
	case f.in <- ev:
	default:
		f.missed.Store(true)
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

func (f *EventFeed) run(ctx context.Context) {
	defer close(f.out)
	deliver := func(ev RevocationEvent) bool {
		select {
		case f.out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		// A resync may be delivered before older queued events: it asks the subscriber to
		// re-check everything, which covers every event published before it was read.
		if f.missed.Swap(false) && !deliver(RevocationEvent{Resync: true}) {
			return
		}
		select {
		case ev := <-f.in:
			if !deliver(ev) {
				return
			}
		case <-f.wake:
		case <-ctx.Done():
			return
		}
	}
}
