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
