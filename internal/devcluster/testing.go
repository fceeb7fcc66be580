package devcluster

import (
	"context"
	"testing"

	"github.com/latchauth/latch/internal/kubenode"
)

// StartT starts a Cluster for a test, which fails at once if it does not come up, and stops it
// (restoring the host) when the test ends. When the test has failed, the operator's last log
// lines, the namespaces' events and the node's components' last lines are logged first.
// Progress goes to the test's log unless o.Progress is set.
func StartT(t testing.TB, o Options) *Cluster {
	t.Helper()
	kubenode.HoldHostT(t)
	if o.Progress == nil {
		o.Progress = kubenode.TestLog(t)
	}
	c, err := Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Diagnostics(context.Background()))
			t.Log(c.Node.Logs(30))
		}
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}
