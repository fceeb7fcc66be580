package servertest

import "testing"

// StoreRoundTrips runs do and returns how many Redis round trips the server made meanwhile,
// read from its own latch_store_round_trips_total counter, and logs the count under name.
// Tests pin the Redis cost of a hot path with it: a request that costs one more round trip is
// a regression no functional test sees. do must be the only traffic to the server meanwhile.
func (s *Server) StoreRoundTrips(t testing.TB, name string, do func()) float64 {
	t.Helper()
	const metric = "latch_store_round_trips_total"
	before := s.Metric(t, metric, nil)
	do()
	n := s.Metric(t, metric, nil) - before
	t.Logf("%s: %v Redis round trips", name, n)
	return n
}
