package devstack

import (
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/types"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/internal/childproc"
)

// Replica is one auth-server process of a Deployment.
type Replica struct {
	Deployment types.NamespacedName
	Index      int
	// PublicURL and AdminURL are http://127.0.0.1:PORT of the replica's two ports; they stay
	// the same across restarts and rolls.
	PublicURL, AdminURL string
	// TemplateHash identifies the pod template the process was started from; ConfigHash is
	// that template's latch.dev/config-hash annotation.
	TemplateHash, ConfigHash string
	// PID is the process's, 0 between a crash and its restart.
	PID      int
	Ready    bool
	Restarts int
	// Dir holds the replica's materialized volumes and its config.json.
	Dir string
}

func (k *kubelet) replicas(key types.NamespacedName) []Replica {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []Replica
	for _, in := range k.sets[key] {
		out = append(out, Replica{
			Deployment:   key,
			Index:        in.index,
			PublicURL:    "http://" + childproc.Loopback(in.ports.Public),
			AdminURL:     "http://" + childproc.Loopback(in.ports.Admin),
			TemplateHash: in.templateHash,
			ConfigHash:   in.configHash,
			PID:          in.sup.PID(),
			Ready:        in.ready.Load(),
			Restarts:     in.sup.Restarts(),
			Dir:          in.dir,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return "(none)"
	}
	return h
}

// ServerConfig is the config a replica runs with (after the stack's rewrite): its dialect
// prefixes, lifespans and listen addresses.
func (r Replica) ServerConfig() (*config.Config, error) {
	return config.Load(filepath.Join(r.Dir, "config.json"))
}
