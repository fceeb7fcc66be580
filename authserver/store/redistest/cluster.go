package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/internal/childproc"
)

// clusterTimeout bounds cluster creation and convergence.
const clusterTimeout = 60 * time.Second

// pollInterval is how often the helpers look again at a topology that is converging.
const pollInterval = 50 * time.Millisecond

// ClusterOptions configure a Redis Cluster.
type ClusterOptions struct {
	// Masters is the number of masters the 16384 slots are spread over; 0 means 3, also the
	// least redis-cli accepts.
	Masters int
	// ReplicasPerMaster is the number of replicas of each master.
	ReplicasPerMaster int
	// NodeTimeout is cluster-node-timeout: how long a node is unreachable before it is marked
	// failed and, if it was a master with a replica, failed over. 0 means 5 s.
	NodeTimeout time.Duration
	// AOF turns the append-only file on for every node (see Options.AOF).
	AOF bool
}

// Cluster is a Redis Cluster on loopback.
type Cluster struct {
	// Addrs are every node's host:port address, usable as seeds.
	Addrs []string
	// Nodes are every node; the first Masters were created masters, each followed in order by
	// the replicas redis-cli gave them (their roles change with failovers: ask Masters).
	Nodes []*Server
}

// StartCluster starts a cluster of three masters and no replicas with a 5 s node timeout:
// StartClusterWith(t, ClusterOptions{}).
func StartCluster(t TB) *Cluster {
	t.Helper()
	return StartClusterWith(t, ClusterOptions{})
}

// StartClusterWith starts Masters*(1+ReplicasPerMaster) cluster-enabled redis-servers on
// loopback, joins them with `redis-cli --cluster create`, waits until every node reports the
// whole cluster healthy (every slot served, every node known, every replica's link up), and
// kills them when the test ends. Each node's cluster bus port is chosen free too, rather than
// assumed free at port+10000.
func StartClusterWith(t TB, o ClusterOptions) *Cluster {
	t.Helper()
	if o.Masters == 0 {
		o.Masters = 3
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = 5 * time.Second
	}
	cli := lookPath(t, "redis-cli")
	c := &Cluster{}
	for range o.Masters * (1 + o.ReplicasPerMaster) {
		bus, err := childproc.FreePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
			return nil
		}
		n := StartWith(t, Options{AOF: o.AOF, Args: []string{
			"--cluster-enabled", "yes",
			// In the node's own directory, so that a restarted node rejoins with its identity
			// and learns what happened while it was down.
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(o.NodeTimeout.Milliseconds(), 10),
			"--cluster-port", strconv.Itoa(bus),
		}})
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(o.ReplicasPerMaster), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
		return nil
	}
	for _, n := range c.Nodes {
		if err := waitClusterOK(ctx, n, len(c.Nodes)); err != nil {
			t.Fatalf("redistest: %v", err)
			return nil
		}
	}
	return c
}

// waitClusterOK waits until the node sees the whole cluster healthy and every slot served (a
// client connecting earlier could be told CLUSTERDOWN) and, if it is a replica, its link to
// its master up (else a failover right away could find no replica eligible).
func waitClusterOK(ctx context.Context, n *Server, nodes int) error {
	c := n.probe()
	defer c.Close()
	var info, repl string
	var err error
	for {
		info, err = c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384") &&
			infoField(info, "cluster_known_nodes") == strconv.Itoa(nodes) {
			repl, err = c.Info(ctx, "replication").Result()
			if err == nil && (infoField(repl, "role") == "master" || infoField(repl, "master_link_status") == "up") {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster node %s did not become healthy: %v\n%s\n%s", n.Addr, err, info, repl)
		case <-time.After(pollInterval):
		}
	}
}

// infoField returns a field of an INFO reply, "" if absent.
func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// Client returns a cluster client seeded with every node, closed at cleanup.
func (c *Cluster) Client(t TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, MaxRetries: -1})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// node returns the node listening on addr, nil if none is.
func (c *Cluster) node(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// slots returns the slot map as the first answering node sees it. Nodes can disagree for a
// moment during a failover; WaitFailover is what waits for them to agree.
func (c *Cluster) slots(ctx context.Context) ([]redis.ClusterSlot, error) {
	var err error
	for _, n := range c.Nodes {
		if !n.answering() {
			continue
		}
		p := n.probe()
		var s []redis.ClusterSlot
		s, err = p.ClusterSlots(ctx).Result()
		p.Close()
		if err == nil {
			return s, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("no cluster node is running")
	}
	return nil, fmt.Errorf("redistest: CLUSTER SLOTS: %w", err)
}

// Masters returns the nodes currently serving slots as masters, in the slot map's order.
func (c *Cluster) Masters(ctx context.Context) ([]*Server, error) {
	slots, err := c.slots(ctx)
	if err != nil {
		return nil, err
	}
	var ms []*Server
	seen := map[string]bool{}
	for _, s := range slots {
		if len(s.Nodes) == 0 || seen[s.Nodes[0].Addr] {
			continue
		}
		seen[s.Nodes[0].Addr] = true
		n := c.node(s.Nodes[0].Addr)
		if n == nil {
			return nil, fmt.Errorf("redistest: slots %d-%d are served by %s, not a node of this cluster", s.Start, s.End, s.Nodes[0].Addr)
		}
		ms = append(ms, n)
	}
	return ms, nil
}

// MasterOf returns the node currently serving key's slot as master.
func (c *Cluster) MasterOf(ctx context.Context, key string) (*Server, error) {
	var slot int64
	var err error
	for _, n := range c.Nodes {
		if !n.answering() {
			continue
		}
		p := n.probe()
		slot, err = p.ClusterKeySlot(ctx, key).Result()
		p.Close()
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("redistest: CLUSTER KEYSLOT: %w", err)
	}
	slots, err := c.slots(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			if n := c.node(s.Nodes[0].Addr); n != nil {
				return n, nil
			}
			return nil, fmt.Errorf("redistest: slot %d is served by %s, not a node of this cluster", slot, s.Nodes[0].Addr)
		}
	}
	return nil, fmt.Errorf("redistest: slot %d of %q is served by no master", slot, key)
}

// WaitFailover waits until every running node reports cluster_state:ok and that dead serves
// no slot as master: the cluster has noticed dead's failure (NodeTimeout) and promoted its
// replicas. A node that is paused counts as not running. A restarted dead node that has
// rejoined as a replica passes too.
func (c *Cluster) WaitFailover(ctx context.Context, dead *Server) error {
	var why string
	for {
		why = c.failoverPending(ctx, dead)
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: cluster did not fail over from %s: %s", dead.Addr, why)
		case <-time.After(pollInterval):
		}
	}
}

// failoverPending returns why WaitFailover must wait longer, "" if it need not.
func (c *Cluster) failoverPending(ctx context.Context, dead *Server) string {
	for _, n := range c.Nodes {
		if !n.answering() {
			continue
		}
		p := n.probe()
		info, err := p.ClusterInfo(ctx).Result()
		var slots []redis.ClusterSlot
		if err == nil {
			slots, err = p.ClusterSlots(ctx).Result()
		}
		p.Close()
		if err != nil {
			return fmt.Sprintf("%s: %v", n.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Sprintf("%s: cluster_state is %s", n.Addr, infoField(info, "cluster_state"))
		}
		for _, s := range slots {
			if len(s.Nodes) > 0 && s.Nodes[0].Addr == dead.Addr {
				return fmt.Sprintf("%s: slots %d-%d still served by %s", n.Addr, s.Start, s.End, dead.Addr)
			}
		}
	}
	return ""
}
