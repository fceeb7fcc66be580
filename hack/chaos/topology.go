package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// topology is a way to run Redis: a name and how to start it on loopback. Adding one is a
// value here and the faults that use it.
type topology struct {
	name  string
	start func(t testing.TB) *store
}

// store is a running topology: the redis section the replicas get, and the harness's handles
// on its processes.
type store struct {
	cfg      config.Redis
	single   *redistest.Server
	sentinel *redistest.Sentinel
	cluster  *redistest.Cluster
}

var (
	// standalone: one redis-server, AOF fsynced every second.
	standalone = topology{name: "standalone", start: func(t testing.TB) *store {
		s := redistest.StartWith(t, redistest.Options{AOF: true})
		return &store{single: s, cfg: config.Redis{Mode: config.RedisStandalone, Addresses: []string{s.Addr}}}
	}}
	// sentinel: a master, two replicas and three sentinels; a master is down after 1 s. The
	// servers fence their writes on one replica (the default), and refuse them while the
	// sentinels announce a failover (redisstore's failover watch): without that, the other
	// replica acknowledged logouts on the old master during a planned failover that the
	// promoted one never had (17 revoked sessions accepted in one run). With two replicas the
	// promoted master keeps one, so fenced writes resume as soon as the failover is over
	// instead of when Sentinel demotes the old master (8-10 s later, with one replica).
	sentinel = topology{name: "sentinel", start: func(t testing.TB) *store {
		s := redistest.StartSentinel(t, redistest.SentinelOptions{Replicas: 2, Sentinels: 3, AOF: true, DownAfter: time.Second})
		return &store{sentinel: s, cfg: config.Redis{Mode: config.RedisSentinel, Addresses: s.SentinelAddrs, MasterName: s.MasterName}}
	}}
	// cluster: three masters with a replica each; a node is failed after 1 s.
	cluster = topology{name: "cluster", start: func(t testing.TB) *store {
		c := redistest.StartClusterWith(t, redistest.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: time.Second, AOF: true})
		return &store{cluster: c, cfg: config.Redis{Mode: config.RedisCluster, Addresses: c.Addrs}}
	}}
)

// masters are the data nodes that take writes now.
func (s *store) masters(ctx context.Context) ([]*redistest.Server, error) {
	switch {
	case s.single != nil:
		return []*redistest.Server{s.single}, nil
	case s.sentinel != nil:
		m := s.sentinel.Master(ctx)
		if m == nil {
			return nil, fmt.Errorf("no sentinel master")
		}
		return []*redistest.Server{m}, nil
	case s.cluster != nil:
		return s.cluster.Masters(ctx)
	}
	return nil, fmt.Errorf("empty store")
}
