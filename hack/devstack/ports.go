package devstack

import (
	"fmt"
	"sync"

	"github.com/latchauth/latch/internal/childproc"
)

// portPlan gives each replica its loopback ports for the life of the stack: the same replica
// keeps them across restarts and rolls, so its URL never changes. With a base port, replicas
// get consecutive ports in the order they are first seen (replica 0 of the dev realm gets the
// base); a port another program holds is skipped. Without one, each gets free ports.
type portPlan struct {
	publicBase, adminBase int
	log                   *syncWriter

	mu       sync.Mutex
	next     int
	assigned map[string]replicaPorts
}

type replicaPorts struct{ Public, Admin int }

// maxPortSkips bounds the search past ports other programs hold.
const maxPortSkips = 100

func newPortPlan(publicBase, adminBase int, log *syncWriter) *portPlan {
	return &portPlan{publicBase: publicBase, adminBase: adminBase, log: log, assigned: map[string]replicaPorts{}}
}

func (p *portPlan) ports(key string) (replicaPorts, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.assigned[key]; ok {
		return r, nil
	}
	var r replicaPorts
	var err error
	if p.publicBase == 0 || p.adminBase == 0 {
		if r.Public, err = childproc.FreePort(); err == nil {
			r.Admin, err = childproc.FreePort()
		}
		if err != nil {
			return replicaPorts{}, err
		}
	} else {
		for skips := 0; ; skips++ {
			if skips == maxPortSkips {
				return replicaPorts{}, fmt.Errorf("no free port pair from %d/%d after %d tries", p.publicBase+p.next, p.adminBase+p.next, maxPortSkips)
			}
			r = replicaPorts{Public: p.publicBase + p.next, Admin: p.adminBase + p.next}
			p.next++
			if childproc.PortFree(r.Public) && childproc.PortFree(r.Admin) && !p.taken(r) {
				break
			}
			p.log.logf("port %d or %d is in use; giving %s the next pair", r.Public, r.Admin, key)
		}
	}
	p.assigned[key] = r
	return r, nil
}

// taken reports whether a port of r is already assigned (free now because its replica is
// between two processes).
func (p *portPlan) taken(r replicaPorts) bool {
	for _, a := range p.assigned {
		if a.Public == r.Public || a.Admin == r.Admin || a.Public == r.Admin || a.Admin == r.Public {
			return true
		}
	}
	return false
}
