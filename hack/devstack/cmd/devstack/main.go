// Command devstack runs the whole Latch system on this machine until Ctrl-C: a redis-server,
// a local control plane, the Helm chart's CRDs, the operator, the dev realm with every
// dialect and its clients, and the auth-server replicas the operator renders, as local
// processes. `make run` runs it (hack/run.sh); see package devstack.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr/funcr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/hack/devstack"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

// repeatSignalWindow is how long after the first signal another one counts as the same.
const repeatSignalWindow = time.Second

func run(args []string, stdout io.Writer) int {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	root := fs.String("root", "", "repository root (default: found from the working directory)")
	latch := fs.String("latch-bin", "", "the latch binary (default: ROOT/bin/latch, built by make build)")
	workDir := fs.String("work-dir", "", "directory for the stack's files (default: a temporary directory, removed at exit)")
	publicPort := fs.Int("public-port", devstack.DefaultPublicPort, "public port of replica 0; replica i gets this+i (0: free ports)")
	adminPort := fs.Int("admin-port", devstack.DefaultAdminPort, "admin port of replica 0; replica i gets this+i (0: free ports)")
	redisPort := fs.Int("redis-port", 0, "redis-server port (0: a free one)")
	asAdmin := fs.Bool("operator-as-admin", false, "run the operator with the admin kubeconfig instead of the chart's ServiceAccount")
	timeout := fs.Duration("timeout", 4*time.Minute, "how long the start may take")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	out := &lockedWriter{w: stdout}
	// envtest logs through controller-runtime's logger (a failed control plane start, say);
	// unset, controller-runtime would complain and drop its lines.
	ctrllog.SetLogger(funcr.New(func(prefix, args string) {
		fmt.Fprintf(out, "devstack | %s %s\n", prefix, args)
	}, funcr.Options{}))
	fail := func(err error) int {
		fmt.Fprintf(out, "devstack | FAILED: %v\n", err)
		return 1
	}

	// Signals are caught before anything starts, so a Ctrl-C during the start stops what was
	// started rather than killing the stack and leaving its children behind.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stack struct {
		sync.Mutex
		s *devstack.Stack
	}
	go func() {
		<-sigs
		cancel()
		// One Ctrl-C can arrive twice (timeout(1) and some shells signal both the child and
		// its group); only a signal after a pause is a user asking again.
		first := time.Now()
		for range sigs {
			if time.Since(first) >= repeatSignalWindow {
				break
			}
		}
		fmt.Fprintln(out, "devstack | second signal: killing the processes without waiting")
		stack.Lock()
		s := stack.s
		stack.Unlock()
		if s != nil {
			s.Kill()
		}
	}()

	started := time.Now()
	if *root == "" {
		r, err := devstack.FindRoot()
		if err != nil {
			return fail(err)
		}
		*root = r
	}
	if *latch == "" {
		*latch = filepath.Join(*root, "bin", "latch")
	}
	tools, err := devstack.FindTools(*root, out)
	if err != nil {
		return fail(err)
	}
	s, err := devstack.Start(ctx, devstack.Options{
		Root: *root, LatchBinary: *latch, Tools: tools, WorkDir: *workDir,
		RedisPort: *redisPort, PublicPort: *publicPort, AdminPort: *adminPort,
		OperatorAsAdmin: *asAdmin, Log: out, StartTimeout: *timeout,
	})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(out, "devstack | interrupted during the start; everything it started is stopped")
			return 130
		}
		return fail(err)
	}
	stack.Lock()
	stack.s = s
	stack.Unlock()

	if err := printBanner(out, s, time.Since(started)); err != nil {
		fmt.Fprintf(out, "devstack | cannot describe the stack: %v\n", err)
	}
	select {
	case <-ctx.Done():
	case <-s.Failed():
	}
	stopErr := s.Stop()
	if err := errors.Join(s.Err(), stopErr); err != nil {
		return fail(err)
	}
	return 0
}

// printBanner tells the user what runs where and what to try first.
func printBanner(out io.Writer, s *devstack.Stack, took time.Duration) error {
	reps := s.Replicas()
	if len(reps) == 0 {
		return errors.New("the dev realm has no replicas")
	}
	cfg, err := reps[0].ServerConfig()
	if err != nil {
		return err
	}
	first, last := reps[0], reps[len(reps)-1]
	kc := s.Kubeconfig
	var b strings.Builder
	fmt.Fprintf(&b, "\nready in %.0fs: realm %s with every dialect, %d replicas\n\n", took.Seconds(), s.Realm, len(reps))

	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  replica\tpublic\tadmin (/healthz /readyz /metrics)")
	for _, r := range reps {
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", r.Index, r.PublicURL, r.AdminURL)
	}
	_ = tw.Flush()
	fmt.Fprintf(&b, "\n  dialect prefixes, on every replica's public URL:\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, d := range dialects(cfg) {
		if d.note == "" {
			fmt.Fprintf(tw, "  %s\t%s%s\n", d.name, first.PublicURL, d.prefix)
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s%s\t%s\n", d.name, first.PublicURL, d.prefix, d.note)
	}
	_ = tw.Flush()
	fmt.Fprintf(&b, "\n  operator  metrics %s  health %s\n", s.OperatorMetricsURL, s.OperatorHealthURL)
	fmt.Fprintf(&b, "            (a local process: the chart's Deployment %s/%s-operator stays at 0/1, as nothing here runs pods)\n", devstack.OperatorNamespace, devstack.HelmRelease)
	fmt.Fprintf(&b, "  redis     %s (password in Secret %s/dev-redis)\n", s.RedisAddr, devstack.DevNamespace)
	fmt.Fprintf(&b, "  kubectl   kubectl --kubeconfig %s get realm,dc -A\n", kc)
	fmt.Fprintf(&b, "            (or export KUBECONFIG=%s)\n", kc)

	if cfg.Protocols.Account != nil {
		acct := strings.TrimSuffix(cfg.Protocols.Account.Prefix, "/")
		fmt.Fprintf(&b, "\n  Try it: register on replica %d, then read the session on replica %d:\n", first.Index, last.Index)
		fmt.Fprintf(&b, "    curl -s -c /tmp/latch.cookies -H 'Content-Type: application/json' \\\n")
		fmt.Fprintf(&b, "      -d '{\"login\":\"ada@example.com\",\"password\":\"correct-horse-battery\",\"firstName\":\"Ada\",\"lastName\":\"Lovelace\"}' \\\n")
		fmt.Fprintf(&b, "      %s%s/register\n", first.PublicURL, acct)
		fmt.Fprintf(&b, "    curl -s -b /tmp/latch.cookies %s%s/session\n", last.PublicURL, acct)
	}
	if cfg.Protocols.BearerToken != nil {
		api := strings.TrimSuffix(cfg.Protocols.BearerToken.Prefix, "/")
		fmt.Fprintf(&b, "\n  The device token the operator minted for DeviceClient %s, and what a server says of it:\n", devstack.DevDeviceClient)
		fmt.Fprintf(&b, "    TOKEN=$(kubectl --kubeconfig %s -n %s get secret %s-credentials -o jsonpath='{.data.token}' | base64 -d)\n", kc, devstack.DevNamespace, devstack.DevDeviceClient)
		fmt.Fprintf(&b, "    curl -s -H \"Authorization: Bearer $TOKEN\" %s%s/auth\n", last.PublicURL, api)
	}
	fmt.Fprintf(&b, "\n  Edit the realm and watch the replicas roll: kubectl --kubeconfig %s -n %s edit realm %s\n", kc, s.Realm.Namespace, s.Realm.Name)
	fmt.Fprintf(&b, "  Stop: Ctrl-C (stops every process the stack started).\n\n")
	_, err = io.WriteString(out, b.String())
	return err
}

type dialect struct{ name, prefix, note string }

func dialects(c *config.Config) []dialect {
	var out []dialect
	p := c.Protocols
	if p.ReactAuth != nil {
		out = append(out, dialect{"reactAuth", p.ReactAuth.Prefix, "(WebSocket at " + strings.TrimSuffix(p.ReactAuth.Prefix, "/") + "/socket)"})
	}
	if p.DeviseToken != nil {
		out = append(out, dialect{"deviseToken", p.DeviseToken.Prefix, ""})
	}
	if p.Account != nil {
		out = append(out, dialect{"account", p.Account.Prefix, ""})
	}
	if p.BearerToken != nil {
		out = append(out, dialect{"bearerToken", p.BearerToken.Prefix, ""})
	}
	if p.KeyToken != nil {
		out = append(out, dialect{"keyToken", p.KeyToken.Prefix, "(client id " + devstack.DevAppClient + ")"})
	}
	return out
}

// lockedWriter keeps the banner's lines and the children's lines apart.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
