package redistest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterTimeout bounds cluster creation and convergence.
const clusterTimeout = 60 * time.Second

// Cluster is a Redis Cluster of three masters and no replicas.
type Cluster struct {
	// Addrs are the masters' host:port addresses, usable as seeds.
	Addrs []string
	Nodes []*Server
}

// StartCluster starts three cluster-enabled redis-servers on loopback, joins them with
// `redis-cli --cluster create` (16384 slots over three masters), waits until every node
// reports cluster_state:ok, and stops them when the test ends. Each node's cluster bus port is
// chosen free too, rather than assumed free at port+10000.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	cli := lookPath(t, "redis-cli")
	c := &Cluster{}
	for range 3 {
		bus, err := FreePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		n := Start(t,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
			"--cluster-port", strconv.Itoa(bus),
		)
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range c.Addrs {
		waitClusterOK(ctx, t, addr)
	}
	return c
}

// waitClusterOK waits until the node at addr sees the whole cluster healthy and every slot
// served; a client connecting earlier could be told CLUSTERDOWN.
func waitClusterOK(ctx context.Context, t testing.TB, addr string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	var info string
	for {
		var err error
		info, err = c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384") &&
			strings.Contains(info, "cluster_known_nodes:3") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: cluster node %s did not reach cluster_state:ok: %v\n%s", addr, err, info)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Client returns a cluster client seeded with every master, closed at cleanup.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, MaxRetries: -1})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}
