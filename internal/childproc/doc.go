// Package childproc is the one kit for the programs that run other programs: the HTTP test
// harness (authserver/servertest), the Redis harness (authserver/store/redistest), the bench,
// the dev stack and the end-to-end test. It reserves free loopback ports, starts a child with
// its output captured (a goroutine-safe Buffer, a log file, or any writer), waits for it to be
// ready with a deadline and the child's output in the error, stops it gracefully (SIGTERM,
// then SIGKILL after a grace period, to its whole process group if it leads one), and reads
// the Prometheus text a child serves on /metrics.
//
// Every child dies with the program that started it (Linux's parent-death signal), so an
// interrupted test run or bench leaves no redis-server or auth server holding its ports.
//
// It lives under internal/ because it is the harnesses' own plumbing, not something the
// operator or the auth server use.
package childproc
