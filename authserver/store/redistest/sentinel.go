package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/internal/childproc"
)

// sentinelTimeout bounds the start of a Sentinel topology: replicas' first syncs and the
// sentinels' discovery of each other (hello messages every 2 s) and of the replicas.
const sentinelTimeout = 60 * time.Second

// SentinelOptions configure a Sentinel-monitored master and its replicas.
type SentinelOptions struct {
	// Replicas is the number of replicas of the master; 0 means 1.
	Replicas int
	// Sentinels is the number of sentinels; 0 means 3. The quorum is a majority of them.
	Sentinels int
	// AOF turns the append-only file on for every data node (see Options.AOF).
	AOF bool
	// DownAfter is down-after-milliseconds: how long the master is unreachable before a
	// sentinel thinks it down. 0 means 1 s.
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout; a sentinel waits twice this before it tries again
	// to fail over the same master. 0 means 3 s.
	FailoverTimeout time.Duration
	// MinReplicasToWrite sets min-replicas-to-write (with min-replicas-max-lag 10) on every
	// data node, not only the master, so that a promoted replica enforces it too.
	MinReplicasToWrite int
}

// Sentinel is a master, its replicas and the sentinels monitoring them, on loopback.
type Sentinel struct {
	// MasterName is the name the sentinels monitor the master under.
	MasterName string
	// Data are the data nodes; Data[0] is the initial master. Their roles change with
	// failovers: ask Master.
	Data []*Server
	// Sentinels are the sentinel processes, SentinelAddrs their addresses.
	Sentinels     []*Server
	SentinelAddrs []string

	t TB
}

// StartSentinel starts a master, o.Replicas replicas of it and o.Sentinels sentinels
// monitoring it, waits until every replica is in sync and every sentinel knows every replica
// and every other sentinel (so that a failover can be agreed on at once), and kills them all
// when the test ends.
func StartSentinel(t TB, o SentinelOptions) *Sentinel {
	t.Helper()
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Sentinels == 0 {
		o.Sentinels = 3
	}
	if o.DownAfter == 0 {
		o.DownAfter = time.Second
	}
	if o.FailoverTimeout == 0 {
		o.FailoverTimeout = 3 * time.Second
	}
	var common []string
	if o.MinReplicasToWrite > 0 {
		common = []string{"--min-replicas-to-write", strconv.Itoa(o.MinReplicasToWrite), "--min-replicas-max-lag", "10"}
	}
	s := &Sentinel{MasterName: "latch", t: t}
	master := StartWith(t, Options{AOF: o.AOF, Args: common})
	s.Data = append(s.Data, master)
	_, port, _ := net.SplitHostPort(master.Addr)
	for range o.Replicas {
		// Replicas keep --replicaof across restarts; whatever it names by then, the sentinels
		// point them at the current master once they are back.
		args := append([]string{"--replicaof", "127.0.0.1", port}, common...)
		s.Data = append(s.Data, StartWith(t, Options{AOF: o.AOF, Args: args}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), sentinelTimeout)
	defer cancel()
	// A replica still in its first sync could not be promoted: wait for every link.
	err := poll(ctx, "replicas' first sync", func() error {
		for _, d := range s.Data[1:] {
			if err := replicaOf(ctx, d, master.Addr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v", err)
		return nil
	}

	conf := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]s %[3]d\n"+
		"sentinel down-after-milliseconds %[1]s %[4]d\n"+
		"sentinel failover-timeout %[1]s %[5]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		s.MasterName, port, o.Sentinels/2+1, o.DownAfter.Milliseconds(), o.FailoverTimeout.Milliseconds())
	for range o.Sentinels {
		dir := t.TempDir()
		path := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatalf("redistest: write sentinel config: %v", err)
			return nil
		}
		sn := startServer(t, dir, false, path, nil)
		s.Sentinels = append(s.Sentinels, sn)
		s.SentinelAddrs = append(s.SentinelAddrs, sn.Addr)
	}
	for _, sn := range s.Sentinels {
		if err := s.waitDiscovery(ctx, sn, o.Replicas, o.Sentinels-1); err != nil {
			t.Fatalf("redistest: %v", err)
			return nil
		}
	}
	return s
}

// sentinelClient is a short-timeout client of one sentinel.
func sentinelClient(sn *Server) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{
		Addr: sn.Addr, MaxRetries: -1,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
	})
}

// waitDiscovery waits until sn monitors the master with the given numbers of healthy replicas
// and other sentinels: until then it could neither reach a quorum nor pick a replica.
func (s *Sentinel) waitDiscovery(ctx context.Context, sn *Server, replicas, others int) error {
	c := sentinelClient(sn)
	defer c.Close()
	var why string
	for {
		why = ""
		rs, err := c.Replicas(ctx, s.MasterName).Result()
		var ss []map[string]string
		if err == nil {
			ss, err = c.Sentinels(ctx, s.MasterName).Result()
		}
		switch {
		case err != nil:
			why = err.Error()
		case len(rs) != replicas:
			why = fmt.Sprintf("knows %d replicas, want %d", len(rs), replicas)
		case len(ss) != others:
			why = fmt.Sprintf("knows %d other sentinels, want %d", len(ss), others)
		}
		for _, r := range rs {
			if r["flags"] != "slave" || r["master-link-status"] != "ok" {
				why = fmt.Sprintf("replica %s:%s has flags %s, link %s", r["ip"], r["port"], r["flags"], r["master-link-status"])
			}
		}
		for _, o := range ss {
			if o["flags"] != "sentinel" {
				why = fmt.Sprintf("sentinel %s:%s has flags %s", o["ip"], o["port"], o["flags"])
			}
		}
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentinel %s did not discover the topology: %s; log:\n%s", sn.Addr, why, sn.logTail())
		case <-time.After(pollInterval):
		}
	}
}

// MasterAddr returns the master's address as the first answering sentinel reports it.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	err := errors.New("no sentinel is running")
	for _, sn := range s.Sentinels {
		if !sn.answering() {
			continue
		}
		var addr string
		if addr, err = s.masterAddrFrom(ctx, sn); err == nil {
			return addr, nil
		}
	}
	return "", fmt.Errorf("redistest: SENTINEL GET-MASTER-ADDR-BY-NAME: %w", err)
}

func (s *Sentinel) masterAddrFrom(ctx context.Context, sn *Server) (string, error) {
	c := sentinelClient(sn)
	defer c.Close()
	a, err := c.GetMasterAddrByName(ctx, s.MasterName).Result()
	if err != nil {
		return "", fmt.Errorf("%s: %w", sn.Addr, err)
	}
	if len(a) != 2 {
		return "", fmt.Errorf("%s: reply %q", sn.Addr, a)
	}
	return net.JoinHostPort(a[0], a[1]), nil
}

// agreedMaster returns the master's address if every answering sentinel reports the same
// one: a client asks any sentinel, so a change is done only when none lags.
func (s *Sentinel) agreedMaster(ctx context.Context) (string, error) {
	agreed := ""
	for _, sn := range s.Sentinels {
		if !sn.answering() {
			continue
		}
		addr, err := s.masterAddrFrom(ctx, sn)
		if err != nil {
			return "", err
		}
		if agreed != "" && addr != agreed {
			return "", fmt.Errorf("sentinels disagree: %s and %s", agreed, addr)
		}
		agreed = addr
	}
	if agreed == "" {
		return "", errors.New("no sentinel is running")
	}
	return agreed, nil
}

// data returns the data node listening on addr, nil if none is.
func (s *Sentinel) data(addr string) *Server {
	for _, d := range s.Data {
		if d.Addr == addr {
			return d
		}
	}
	return nil
}

// Master returns the data node the sentinels report as master. It calls Fatalf if no
// sentinel answers or the address is none of Data, so call it from the test's goroutine (or
// MasterAddr from any).
func (s *Sentinel) Master(ctx context.Context) *Server {
	s.t.Helper()
	addr, err := s.MasterAddr(ctx)
	if err != nil {
		s.t.Fatalf("%v", err)
		return nil
	}
	d := s.data(addr)
	if d == nil {
		s.t.Fatalf("redistest: the sentinels report master %s, none of the data nodes", addr)
	}
	return d
}

// replication returns the INFO replication of d.
func replication(ctx context.Context, d *Server) (string, error) {
	c := d.probe()
	defer c.Close()
	return c.Info(ctx, "replication").Result()
}

// isMaster reports whether the data node at addr answers role:master.
func (s *Sentinel) isMaster(ctx context.Context, addr string) error {
	d := s.data(addr)
	if d == nil {
		return fmt.Errorf("master %s is none of the data nodes", addr)
	}
	info, err := replication(ctx, d)
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	if role := infoField(info, "role"); role != "master" {
		return fmt.Errorf("%s reports role:%s", addr, role)
	}
	return nil
}

// replicaOf reports whether d is a replica of master with its link up.
func replicaOf(ctx context.Context, d *Server, master string) error {
	info, err := replication(ctx, d)
	if err != nil {
		return fmt.Errorf("%s: %w", d.Addr, err)
	}
	host, port := infoField(info, "master_host"), infoField(info, "master_port")
	if role := infoField(info, "role"); role != "slave" || net.JoinHostPort(host, port) != master {
		return fmt.Errorf("%s reports role:%s of %s:%s, want a replica of %s", d.Addr, role, host, port, master)
	}
	if link := infoField(info, "master_link_status"); link != "up" {
		return fmt.Errorf("%s: master_link_status:%s", d.Addr, link)
	}
	return nil
}

// poll calls f until it returns nil or ctx ends, then returns f's last error.
func poll(ctx context.Context, what string, f func() error) error {
	if err := childproc.Poll(ctx, pollInterval, func(context.Context) error { return f() }); err != nil {
		return fmt.Errorf("redistest: %s: %w", what, err)
	}
	return nil
}

// Failover forces a failover (SENTINEL FAILOVER, which needs no agreement) and waits until it
// is over: every answering sentinel reports the new master, which answers role:master, and
// the old master, if it answers, is its replica with the link up. Sentinel reconfigures the
// old master only once it has seen it claim to be a master for 8 s, so this takes 10 s or so.
func (s *Sentinel) Failover(ctx context.Context) (string, error) {
	old, err := s.agreedMaster(ctx)
	if err != nil {
		return "", fmt.Errorf("redistest: before failover: %w", err)
	}
	asked := false
	for _, sn := range s.Sentinels {
		if !sn.answering() {
			continue
		}
		c := sentinelClient(sn)
		err = c.Failover(ctx, s.MasterName).Err()
		c.Close()
		if err == nil {
			asked = true
			break
		}
	}
	if !asked {
		return "", fmt.Errorf("redistest: SENTINEL FAILOVER: %w", err)
	}
	var addr string
	err = poll(ctx, "failover from "+old, func() error {
		var err error
		if addr, err = s.agreedMaster(ctx); err != nil {
			return err
		}
		if addr == old {
			return fmt.Errorf("sentinels still report %s", old)
		}
		if err := s.isMaster(ctx, addr); err != nil {
			return err
		}
		if d := s.data(old); d != nil && d.answering() {
			return replicaOf(ctx, d, addr)
		}
		return nil
	})
	return addr, err
}

// WaitMasterChange waits until the sentinels agree on a master other than old that answers
// role:master: the end of a failover the test caused by killing or pausing old.
func (s *Sentinel) WaitMasterChange(ctx context.Context, old string) (string, error) {
	var addr string
	err := poll(ctx, "master change from "+old, func() error {
		var err error
		if addr, err = s.agreedMaster(ctx); err != nil {
			return err
		}
		if addr == old {
			return fmt.Errorf("sentinels still report %s", old)
		}
		return s.isMaster(ctx, addr)
	})
	return addr, err
}

// WaitSynced waits until every answering data node but the master is a replica of the
// current master with its link up (a restarted old master is converted only after 8 s).
func (s *Sentinel) WaitSynced(ctx context.Context) error {
	return poll(ctx, "replicas in sync", func() error {
		master, err := s.agreedMaster(ctx)
		if err != nil {
			return err
		}
		if err := s.isMaster(ctx, master); err != nil {
			return err
		}
		for _, d := range s.Data {
			if d.Addr == master || !d.answering() {
				continue
			}
			if err := replicaOf(ctx, d, master); err != nil {
				return err
			}
		}
		return nil
	})
}
