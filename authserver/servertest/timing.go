package servertest

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// MedianTimes runs each of fns rounds times, interleaved (all of them once, then all again) so
// that noise from other work on a shared machine hits each alike, and returns the median time
// of each, in the order of fns. The failed-login timing tests compare these: an unknown user
// must cost about what a wrong password costs.
func MedianTimes(rounds int, fns ...func()) []time.Duration {
	times := make([][]time.Duration, len(fns))
	for range rounds {
		for i, f := range fns {
			start := time.Now()
			f()
			times[i] = append(times[i], time.Since(start))
		}
	}
	medians := make([]time.Duration, len(fns))
	for i, ds := range times {
		slices.Sort(ds)
		medians[i] = ds[len(ds)/2]
	}
	return medians
}

// ParseUTC parses a time a dialect answered with: RFC 3339, in UTC ("Z").
func ParseUTC(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("time %q is not RFC 3339: %v", s, err)
	}
	if !strings.HasSuffix(s, "Z") {
		t.Errorf("time %q is not in UTC", s)
	}
	return tm
}
