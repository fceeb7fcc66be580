package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// DefaultHeadroom is the least the heap may grow between two collections: 32 MiB, so a
// server with a few MiB live collects about every 32 MiB of allocation instead of every 4.
const DefaultHeadroom = 32 << 20

// maxPercent bounds GOGC (a live heap of a few bytes would otherwise ask for millions).
const maxPercent = 10000

// liveHeapMetric is the heap that survived the last collection.
const liveHeapMetric = "/gc/heap/live:bytes"

// Tuner keeps GOGC at the percent that gives the configured headroom.
type Tuner struct {
	headroom uint64
	stopped  atomic.Bool
	percent  atomic.Int64 // what the tuner last set
	sample   []metrics.Sample
}

// Start begins tuning with headroom bytes (DefaultHeadroom if 0) and returns the tuner, or nil
// when GOGC is set in the environment. Stop it to restore GOGC=100.
func Start(headroom uint64) *Tuner {
	if _, set := os.LookupEnv("GOGC"); set {
		return nil
	}
	if headroom == 0 {
		headroom = DefaultHeadroom
	}
	t := &Tuner{headroom: headroom, sample: []metrics.Sample{{Name: liveHeapMetric}}}
	t.percent.Store(100)
	t.adjust()
	t.arm()
	return t
}

// Percent is the GOGC the tuner last set.
func (t *Tuner) Percent() int { return int(t.percent.Load()) }

// Stop ends the tuning and restores GOGC=100. A nil Tuner is stopped already.
func (t *Tuner) Stop() {
	if t == nil || t.stopped.Swap(true) {
		return
	}
	debug.SetGCPercent(100)
	t.percent.Store(100)
}

// percentFor is the GOGC that makes the next collection start at live + max(live, headroom).
func percentFor(live, headroom uint64) int64 {
	if live == 0 || headroom <= live {
		return 100
	}
	p := headroom * 100 / live
	if p > maxPercent {
		return maxPercent
	}
	return int64(p)
}

// adjust sets GOGC from the live heap the last collection left.
func (t *Tuner) adjust() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return // not reported by this runtime: leave GOGC alone
	}
	p := percentFor(t.sample[0].Value.Uint64(), t.headroom)
	if old := t.percent.Load(); p != old {
		debug.SetGCPercent(int(p))
		t.percent.Store(p)
	}
}

// cycleMarker is garbage the moment it is made; its finalizer runs once the next collection
// has found it unreachable, that is once per cycle.
type cycleMarker struct{ _ *byte }

// arm makes a marker whose finalizer adjusts GOGC and arms the next one.
func (t *Tuner) arm() {
	m := &cycleMarker{}
	runtime.SetFinalizer(m, func(*cycleMarker) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	})
}
