package memory_test

import (
	"testing"

	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/conformance"
	"github.com/latchauth/latch/authserver/store/memory"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) store.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() }) // the suite closes one store itself
		return s
	})
}
