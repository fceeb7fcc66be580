package main

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one connection of a closed-loop run: do sends one request and waits for its
// answer, so each connection has exactly one request in flight.
type worker interface {
	do() error
	close()
}

// maxSamplesPerWorker bounds the latencies one connection records (and so the run's memory),
// far above what a run of the default length produces.
const maxSamplesPerWorker = 1 << 21

// loadStats is one measured window.
type loadStats struct {
	Requests  int64 // successful requests in the window
	Errors    int64
	FirstErr  error
	Elapsed   time.Duration
	Latencies []time.Duration // sorted, successful requests only
}

func (s loadStats) rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// pct is the nearest-rank percentile p (0 < p ≤ 100) of the latencies.
func (s loadStats) pct(p float64) time.Duration { return percentile(s.Latencies, p) }

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// runClosedLoop drives every worker in its own goroutine: warmup unrecorded, then duration
// recorded. atStart and atEnd run at the edges of the recorded window (snapshots of Redis and
// server counters). A request is recorded when it started inside the window. The run is
// bounded by its durations plus one requestTimeout for the requests still in flight.
func runClosedLoop(workers []worker, warmup, duration time.Duration, atStart, atEnd func()) loadStats {
	var phase atomic.Int32
	type result struct {
		lat      []time.Duration
		errs     int64
		firstErr error
	}
	results := make([]result, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			r := &results[i]
			r.lat = make([]time.Duration, 0, 1<<12)
			for {
				ph := phase.Load()
				if ph == phaseStop {
					return
				}
				t0 := time.Now()
				err := w.do()
				d := time.Since(t0)
				if ph == phaseMeasure {
					switch {
					case err != nil:
						r.errs++
						if r.firstErr == nil {
							r.firstErr = err
						}
					case len(r.lat) < maxSamplesPerWorker:
						r.lat = append(r.lat, d)
					}
				}
				if err != nil {
					// A refused or broken connection must not spin: the worker redials after a pause.
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(warmup)
	if atStart != nil {
		atStart()
	}
	start := time.Now()
	phase.Store(phaseMeasure)
	time.Sleep(duration)
	phase.Store(phaseStop)
	elapsed := time.Since(start)
	if atEnd != nil {
		atEnd()
	}
	wg.Wait()

	st := loadStats{Elapsed: elapsed}
	for _, r := range results {
		st.Latencies = append(st.Latencies, r.lat...)
		st.Errors += r.errs
		if st.FirstErr == nil {
			st.FirstErr = r.firstErr
		}
	}
	st.Requests = int64(len(st.Latencies))
	slices.Sort(st.Latencies)
	return st
}

// median returns the median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}
