package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

func TestEventFeedDeliversInOrder(t *testing.T) {
	f := store.NewEventFeed(t.Context())
	for i := range 10 {
		f.Send(store.RevocationEvent{Revocation: store.Revocation{SessionID: string(rune('a' + i))}})
	}
	for i := range 10 {
		ev := <-f.Events()
		if ev.Resync || ev.Revocation.SessionID != string(rune('a'+i)) {
			t.Fatalf("event %d = %+v", i, ev)
		}
	}
}

// TestEventFeedResyncsAfterOverflow: a reader that falls behind loses events, never the
// knowledge that it lost some.
func TestEventFeedResyncsAfterOverflow(t *testing.T) {
	f := store.NewEventFeed(t.Context())
	const sent = store.FeedBuffer + 100
	for range sent { // nobody reads: the publisher must not block
		f.Send(store.RevocationEvent{Revocation: store.Revocation{SessionID: "s"}})
	}
	// Drain until the feed goes quiet. A resync may come more than once (drops after one was
	// queued), never zero times.
	revocations, resyncs := 0, 0
	for quiet := false; !quiet; {
		select {
		case ev := <-f.Events():
			if ev.Resync {
				resyncs++
			} else {
				revocations++
			}
		case <-time.After(200 * time.Millisecond):
			quiet = true
		}
	}
	if resyncs == 0 {
		t.Error("events were dropped without a resync")
	}
	if revocations < store.FeedBuffer || revocations >= sent {
		t.Errorf("%d revocations delivered of %d sent into a buffer of %d", revocations, sent, store.FeedBuffer)
	}
}

func TestEventFeedClosesWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	f := store.NewEventFeed(ctx)
	f.Send(store.RevocationEvent{Resync: true})
	cancel()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-f.Events():
			if !ok {
				f.Send(store.RevocationEvent{Resync: true}) // after the end: a no-op, no panic
				return
			}
		case <-timeout:
			t.Fatal("the feed stayed open after its context ended")
		}
	}
}
