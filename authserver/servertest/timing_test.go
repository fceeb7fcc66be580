package servertest_test

import (
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/servertest"
)

func TestMedianTimesInterleavesAndTakesMedians(t *testing.T) {
	var order []string
	m := servertest.MedianTimes(3,
		func() { order = append(order, "a") },
		func() { order = append(order, "b"); time.Sleep(5 * time.Millisecond) },
	)
	if got := len(order); got != 6 || order[0] != "a" || order[1] != "b" || order[2] != "a" {
		t.Errorf("calls %v, want a and b interleaved, 3 each", order)
	}
	if len(m) != 2 || m[1] < 5*time.Millisecond || m[0] >= m[1] {
		t.Errorf("medians %v, want b's at least 5 ms and above a's", m)
	}
}

func TestParseUTC(t *testing.T) {
	if got := servertest.ParseUTC(t, "2026-11-22T06:00:00Z"); !got.Equal(time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseUTC = %s", got)
	}
}
