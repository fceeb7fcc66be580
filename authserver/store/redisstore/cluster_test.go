package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store/redistest"
)

// TestClusterRefusesCrossSlotSteps shows that the cluster conformance run has teeth: a step
// over keys of two hash tags is refused there, so a store whose steps crossed slots would fail
// it.
func TestClusterRefusesCrossSlotSteps(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t).Client(t)
	ctx := t.Context()
	a, b := "{u:alice}:user", "{u:bob}:user"
	sa, err := c.ClusterKeySlot(ctx, a).Result()
	must(t, err)
	sb, err := c.ClusterKeySlot(ctx, b).Result()
	must(t, err)
	if sa == sb {
		t.Fatalf("test keys share slot %d", sa)
	}
	err = c.Eval(ctx, "redis.call('SET', KEYS[1], 1); redis.call('SET', KEYS[2], 1); return 1", []string{a, b}).Err()
	if !redis.HasErrorPrefix(err, "CROSSSLOT") {
		t.Errorf("a script over two slots: got %v, want CROSSSLOT", err)
	}
	// Nor may a script reach an undeclared key of another node (as one that built keys of
	// another user in Lua would).
	err = c.Eval(ctx, "redis.call('SET', KEYS[1], 1); for i = 1, 200 do redis.call('SET', '{u:other' .. i .. '}:x', 1) end; return 1", []string{a}).Err()
	if err == nil {
		t.Error("a script wrote keys of other nodes' slots")
	}
}
