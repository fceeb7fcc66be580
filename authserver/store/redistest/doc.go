// Package redistest starts real redis-server processes for tests and for the fault harness:
// a standalone server (Start, StartWith, optionally with an append-only file), a master with
// replicas watched by sentinels (StartSentinel) and a Redis Cluster with or without replicas
// (StartCluster, StartClusterWith). Every process is on a free loopback port with its own
// temporary directory, dies with the process that started it, and is killed at cleanup.
//
// A Server's fault controls (Kill, Terminate, Pause, Resume, Restart, ConfigSet) are real
// signals and real configuration, and each returns once it has taken effect; the topologies'
// waits (Sentinel.Failover, WaitMasterChange, WaitSynced, Cluster.WaitFailover) return once
// the servers themselves report the new state, so that what a test asserts next is the
// client's behaviour, not the helper's timing.
//
// The functions take TB rather than testing.TB so that a program can run the same topologies.
package redistest
