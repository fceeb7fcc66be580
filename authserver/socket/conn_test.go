package socket_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/socket"
)

// TestReadLimit: the default limit is 4 KiB; a message at it is served, one byte more closes
// the connection with 1009.
func TestReadLimit(t *testing.T) {
	h := startHub(t, socket.Config{Sessions: newMemory(t)}, nil)
	c := dial(t, h.url)
	atLimit := "echo " + strings.Repeat("a", socket.DefaultReadLimit-len("echo "))
	c.send(atLimit)
	c.expect(strings.TrimPrefix(atLimit, "echo "), 2*time.Second)
	c.send(atLimit + "a")
	c.expectClosed(websocket.CloseMessageTooBig, 2*time.Second)
	waitFor(t, 2*time.Second, "connection removed", func() bool { return h.Stats().Connections == 0 })
}

// TestDeadPeerDetected: a peer that never answers pings is dropped after PongWait, while a peer
// that answers them stays connected well past it.
func TestDeadPeerDetected(t *testing.T) {
	const pongWait = 300 * time.Millisecond
	h := startHub(t, socket.Config{Sessions: newMemory(t), PongWait: pongWait, PingPeriod: 100 * time.Millisecond}, nil)
	live := dial(t, h.url) // reads, so gorilla's default ping handler answers
	dialWS(t, h.url)       // never reads, so never sends a pong
	waitFor(t, time.Second, "both connections", func() bool { return h.Stats().Connections == 2 })
	start := time.Now()
	waitFor(t, 2*time.Second, "the dead peer to be dropped", func() bool { return h.Stats().Connections == 1 })
	detected := time.Since(start)
	t.Logf("dead peer dropped after %s (PongWait %s)", detected.Round(time.Millisecond), pongWait)
	if detected < pongWait/2 {
		t.Errorf("peer dropped after %s, before PongWait %s could pass", detected, pongWait)
	}
	time.Sleep(3 * pongWait)
	live.send("echo alive")
	live.expect("alive", time.Second)
	if n := h.Stats().Connections; n != 1 {
		t.Errorf("%d connections after %s, want the live one", n, 3*pongWait)
	}
}

// TestSlowPeerDropped: a peer that stops reading fills its queue and is dropped; sends to it
// never block, and the other peers keep receiving in time.
func TestSlowPeerDropped(t *testing.T) {
	const fastPeers = 3
	h := startHub(t, socket.Config{Sessions: newMemory(t)}, nil)
	dialWS(t, h.url) // the slow peer: connected, never reads
	slow := <-h.conns
	fast := make([]*client, fastPeers)
	server := make([]*socket.Conn, fastPeers)
	for i := range fast {
		fast[i] = dial(t, h.url)
		server[i] = <-h.conns
	}

	// Big messages fill the slow peer's socket buffers, then its queue; small ones go to the
	// others, each stamped with the time it was sent.
	big := []byte(strings.Repeat("x", 64<<10))
	var maxSend time.Duration
	sent := 0
	dropped := false
	const maxRounds = 2000 // 128 MiB to the slow peer: far beyond any socket buffer
	for round := 0; round < maxRounds && !dropped; round++ {
		start := time.Now()
		err := slow.Send(big)
		maxSend = max(maxSend, time.Since(start))
		switch err {
		case nil:
		case socket.ErrSlowPeer:
			dropped = true
		default:
			t.Fatalf("send to the slow peer: %v", err)
		}
		msg := fmt.Appendf(nil, "%d %d", round, time.Now().UnixNano())
		for _, c := range server {
			start := time.Now()
			must(t, c.Send(msg))
			maxSend = max(maxSend, time.Since(start))
		}
		sent++
		time.Sleep(time.Millisecond) // a pace the fast readers can follow: their queues hold 16

	}
	if !dropped {
		t.Fatalf("the slow peer was not dropped after %d rounds", maxRounds)
	}
	if err := slow.Send(big); err != socket.ErrClosed {
		t.Errorf("send after the drop = %v, want ErrClosed", err)
	}

	var delays []time.Duration
	for i, c := range fast {
		for round := range sent {
			m := c.next(5 * time.Second)
			var got int
			var at int64
			if _, err := fmt.Sscanf(m.data, "%d %d", &got, &at); err != nil || got != round {
				t.Fatalf("fast peer %d: message %q, want round %d", i, m.data, round)
			}
			delays = append(delays, m.at.Sub(time.Unix(0, at)))
		}
	}
	slices.Sort(delays)
	p99 := delays[len(delays)*99/100]
	t.Logf("slow peer dropped after %d rounds; longest Send %s; fast peers' delivery p50 %s p99 %s max %s",
		sent, maxSend, delays[len(delays)/2], p99, delays[len(delays)-1])
	if maxSend > 50*time.Millisecond {
		t.Errorf("a Send took %s: sends must never wait for a peer", maxSend)
	}
	if p99 > 500*time.Millisecond {
		t.Errorf("fast peers' p99 delivery %s: the slow peer delayed them", p99)
	}
	waitFor(t, 2*time.Second, "the slow peer to be removed", func() bool { return h.Stats().Connections == fastPeers })
	if n := h.Stats().SlowPeersDropped; n != 1 {
		t.Errorf("SlowPeersDropped = %d, want 1", n)
	}
}

// TestPipelinedRequestsAllAnswered: a peer that sends many requests before reading any reply
// gets every reply, in order, and is not taken for a slow peer: the reader waits for the
// writer instead of overrunning the queue with replies.
func TestPipelinedRequestsAllAnswered(t *testing.T) {
	const requests = 500
	h := startHub(t, socket.Config{Sessions: newMemory(t), SendQueue: 4}, nil)
	c := dial(t, h.url)
	for i := range requests {
		c.send(fmt.Sprintf("echo %d", i))
	}
	for i := range requests {
		c.expect(strconv.Itoa(i), 5*time.Second)
	}
	if n := h.Stats().SlowPeersDropped; n != 0 {
		t.Errorf("SlowPeersDropped = %d, want 0", n)
	}
}
