package redisstore

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store"
)

// reply is a server error reply, as go-redis reports one.
type reply string

func (r reply) Error() string { return string(r) }
func (reply) RedisError()     {}

func TestWrapErr(t *testing.T) {
	for _, tc := range []struct {
		err         error
		unavailable bool
	}{
		{io.EOF, true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{redis.ErrClosed, true},
		{redis.ErrPoolTimeout, true},
		{context.DeadlineExceeded, true},
		{context.Canceled, true},
		{reply("LOADING Redis is loading the dataset in memory"), true},
		{reply("CLUSTERDOWN The cluster is down"), true},
		{reply("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{reply("READONLY You can't write against a read only replica."), true},
		{reply("MASTERDOWN Link with MASTER is down"), true},
		{reply("BUSY Redis is busy running a script"), true},
		{reply("OOM command not allowed when used memory > 'maxmemory'."), true},
		{reply("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{redis.ErrCrossSlot, false},
		{reply("ERR Error running script: user_script:1: bad argument"), false},
	} {
		got := wrapErr("op", tc.err)
		if errors.Is(got, store.ErrUnavailable) != tc.unavailable {
			t.Errorf("wrapErr(%v) = %v; unavailable %v, want %v", tc.err, got, !tc.unavailable, tc.unavailable)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("wrapErr(%v) = %v lost the cause", tc.err, got)
		}
		if errors.Is(got, store.ErrNotFound) {
			t.Errorf("wrapErr(%v) reads as not found", tc.err)
		}
	}
	if wrapErr("op", nil) != nil {
		t.Error("wrapErr(nil) is not nil")
	}
}

// TestCRC16 pins the cluster key-slot hash to its published check value and to slots Redis
// itself reports (CLUSTER KEYSLOT "foo" is 12182, "bar" 5061).
func TestCRC16(t *testing.T) {
	for in, want := range map[string]uint16{"123456789": 0x31C3} {
		if got := crc16(in); got != want {
			t.Errorf("crc16(%q) = %#x, want %#x", in, got, want)
		}
	}
	for in, want := range map[string]int{"foo": 12182, "bar": 5061} {
		if got := int(crc16(in) % clusterSlots); got != want {
			t.Errorf("slot(%q) = %d, want %d", in, got, want)
		}
	}
	for _, r := range [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}, {100, 100}} {
		tag := tagInSlots(r[0], r[1])
		if slot := int(crc16(tag) % clusterSlots); slot < r[0] || slot > r[1] {
			t.Errorf("tagInSlots(%d, %d) = %q in slot %d", r[0], r[1], tag, slot)
		}
	}
}
