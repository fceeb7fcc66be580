package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/internal/childproc"
)

// The chart's release: its namespace, and the ServiceAccount the operator runs as.
const (
	OperatorNamespace      = "latch-system"
	HelmRelease            = "latch"
	operatorServiceAccount = HelmRelease + "-operator"
)

// Default ports of `make run`: replica i of the dev realm gets public 8081+i and admin 9091+i.
const (
	DefaultPublicPort = 8081
	DefaultAdminPort  = 9091
)

// Options configure a stack. Root and LatchBinary are required; zero values elsewhere are
// the defaults.
type Options struct {
	// Root is the repository root (charts/latch is installed from it); see FindRoot.
	Root string
	// LatchBinary is the latch binary the operator and the servers run (`make build`'s
	// bin/latch).
	LatchBinary string
	// Tools are etcd, kube-apiserver, helm and redis-server; see FindTools.
	Tools Tools
	// WorkDir holds everything the stack writes (kubeconfig, logs, the replicas' volumes). Empty
	// makes a temporary directory, removed by Stop.
	WorkDir string
	// RedisPort is the redis-server's port; 0 takes a free one.
	RedisPort int
	// PublicPort and AdminPort are the ports of the first replica, the next replicas taking
	// the next ports; 0 gives every replica free ports.
	PublicPort, AdminPort int
	// OperatorAsAdmin runs the operator with the admin kubeconfig instead of the chart's
	// ServiceAccount (whose RBAC it otherwise exercises).
	OperatorAsAdmin bool
	// Customize, if set, edits each object of the dev manifests before it is applied: an
	// end-to-end test adds its own page's origin to spec.allowedOrigins of the AuthRealm, or
	// shortens a lifespan.
	Customize func(*unstructured.Unstructured) error
	// Log receives the stack's progress and every line its children write, each prefixed with
	// the child's name. Nil discards them.
	Log io.Writer
	// StartTimeout bounds Start after the tools are found (default 4m: a cold control plane
	// on a loaded two-core machine takes about a minute).
	StartTimeout time.Duration
}

// Stack is a running dev stack. Its methods are safe for concurrent use.
type Stack struct {
	// WorkDir holds what the stack writes.
	WorkDir string
	// Kubeconfig is the path of an admin kubeconfig of the control plane.
	Kubeconfig string
	// RedisAddr is the redis-server's host:port; RedisPassword its password.
	RedisAddr, RedisPassword string
	// OperatorMetricsURL and OperatorHealthURL are the operator's two ports.
	OperatorMetricsURL, OperatorHealthURL string
	// Realm is the dev realm.
	Realm types.NamespacedName

	opts     Options
	log      *syncWriter
	ownDir   bool
	manifest []*unstructured.Unstructured

	env      *envtest.Environment
	guard    *childproc.Process
	admin    *rest.Config
	client   client.WithWatch
	redis    *supervisor
	operator *supervisor
	kubelet  *kubelet

	cancelBackground context.CancelFunc
	background       sync.WaitGroup

	failOnce sync.Once
	failed   chan struct{}
	failErr  error

	stopOnce sync.Once
	stopErr  error
}

// Start brings the stack up and returns once it is ready: the dev realm Ready at its current
// generation, each of its replicas ready on the current pod template, and its device clients
// Ready. ctx bounds the start only; the stack runs until Stop. On an error, what was started
// is stopped.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Root == "" || opts.LatchBinary == "" {
		return nil, errors.New("devstack: Options.Root and Options.LatchBinary are required")
	}
	// Children run in other directories: every path they get must be absolute.
	for _, p := range []*string{&opts.Root, &opts.LatchBinary, &opts.WorkDir} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("devstack: %w", err)
		}
		*p = abs
	}
	if err := executable(opts.LatchBinary); err != nil {
		return nil, fmt.Errorf("devstack: latch binary (run make build): %w", err)
	}
	if err := opts.Tools.check(); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 4 * time.Minute
	}
	out := opts.Log
	if out == nil {
		out = io.Discard
	}
	s := &Stack{opts: opts, log: &syncWriter{w: out}, failed: make(chan struct{}),
		Realm: types.NamespacedName{Namespace: DevNamespace, Name: DevRealm}}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := s.start(ctx); err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		if stopErr := s.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("devstack: %w", err)
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context) error {
	s.WorkDir = s.opts.WorkDir
	if s.WorkDir == "" {
		d, err := os.MkdirTemp("", "latch-devstack-")
		if err != nil {
			return err
		}
		s.WorkDir, s.ownDir = d, true
	} else if err := os.MkdirAll(s.WorkDir, 0o700); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	s.cancelBackground = cancel

	var err error
	step := s.step("starting redis-server")
	s.redis, s.RedisAddr, s.RedisPassword, err = startRedis(ctx, s.opts.Tools.RedisServer, filepath.Join(s.WorkDir, "redis"), s.opts.RedisPort, s.log)
	if err != nil {
		return err
	}
	step.done("on %s", s.RedisAddr)

	step = s.step("starting the control plane (etcd, kube-apiserver)")
	s.env, s.admin, s.Kubeconfig, err = startControlPlane(s.opts.Tools.KubebuilderAssets, s.WorkDir)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(authv1.AddToScheme(scheme))
	if s.client, err = client.NewWithWatch(s.admin, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("client of the control plane: %w", err)
	}
	var ownDirs []string
	if s.ownDir {
		ownDirs = append(ownDirs, s.WorkDir)
	}
	if s.guard, err = startGuard(s.env, ownDirs, s.log); err != nil {
		return fmt.Errorf("guard the control plane: %w", err)
	}
	step.done("kubeconfig %s", s.Kubeconfig)
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		s.watchControlPlane(bg)
	}()

	step = s.step("installing the Helm chart (CRDs, RBAC, the operator's ServiceAccount)")
	if err := s.helmInstall(ctx); err != nil {
		return err
	}
	if err := s.waitCRDs(ctx); err != nil {
		return err
	}
	step.done("release %s in %s", HelmRelease, OperatorNamespace)

	step = s.step("starting the operator")
	if err := s.startOperator(ctx, bg); err != nil {
		return err
	}
	step.done("health %s", s.OperatorHealthURL)

	plan := newPortPlan(s.opts.PublicPort, s.opts.AdminPort, s.log)
	// The realm's public URL is its first replica's, whose ports are reserved now so that the
	// manifest can name it (the mails that link to the API use it).
	first, err := plan.ports(fmt.Sprintf("%s/%s/0", DevNamespace, DevRealm))
	if err != nil {
		return err
	}
	s.kubelet = newKubelet(s.client, s.opts.LatchBinary, filepath.Join(s.WorkDir, "pods"), plan, s.log)
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		s.kubelet.run(bg)
	}()

	step = s.step("applying the dev realm and its clients (hack/devstack/manifests)")
	vars := map[string]string{"REDIS_ADDRESS": s.RedisAddr, "REDIS_PASSWORD": s.RedisPassword,
		"PUBLIC_URL": "http://" + childproc.Loopback(first.Public)}
	if s.manifest, err = devManifests(vars); err != nil {
		return err
	}
	if s.opts.Customize != nil {
		for _, u := range s.manifest {
			if err := s.opts.Customize(u); err != nil {
				return fmt.Errorf("customize %s %s: %w", u.GetKind(), u.GetName(), err)
			}
		}
	}
	if err := applyAll(ctx, s.client, s.manifest); err != nil {
		return err
	}
	step.done("")

	step = s.step("waiting for the realm, its replicas and its clients to be ready")
	if err := s.WaitReady(ctx); err != nil {
		return err
	}
	step.done("")
	return nil
}

// progressStep prints a slow step's start and end with its duration.
type progressStep struct {
	log   *syncWriter
	what  string
	start time.Time
}

func (s *Stack) step(what string) progressStep {
	s.log.logf("%s...", what)
	return progressStep{log: s.log, what: what, start: time.Now()}
}

func (p progressStep) done(format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	if detail != "" {
		detail = ": " + detail
	}
	p.log.logf("%s: done in %.1fs%s", p.what, time.Since(p.start).Seconds(), detail)
}

// Client is an admin client of the control plane, with the Latch and core types.
func (s *Stack) Client() client.WithWatch { return s.client }

// RESTConfig is the admin REST config of the control plane.
func (s *Stack) RESTConfig() *rest.Config { return rest.CopyConfig(s.admin) }

// Replicas are the processes of the dev realm's Deployment, by index.
func (s *Stack) Replicas() []Replica {
	return s.kubelet.replicas(s.Realm) // the operator names the Deployment after the realm
}

// ReplicasOf are the processes of any server Deployment.
func (s *Stack) ReplicasOf(deployment types.NamespacedName) []Replica {
	return s.kubelet.replicas(deployment)
}

// DeviceToken is the token the operator minted for a DeviceClient of type device, read from
// its credentials Secret.
func (s *Stack) DeviceToken(ctx context.Context, namespace, name string) (string, error) {
	dc := &authv1.DeviceClient{}
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, dc); err != nil {
		return "", err
	}
	if dc.Status.SecretName == "" {
		return "", fmt.Errorf("DeviceClient %s/%s reports no credentials Secret yet", namespace, name)
	}
	sec := &corev1.Secret{}
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: dc.Status.SecretName}, sec); err != nil {
		return "", err
	}
	tok := string(sec.Data["token"])
	if tok == "" {
		return "", fmt.Errorf("Secret %s/%s has no token", namespace, dc.Status.SecretName)
	}
	return tok, nil
}

// Stop stops everything, in the reverse order of the start: the servers, the operator, the
// control plane, Redis. It returns once every child process is gone, and removes a work
// directory the stack made. Calling it again returns the first call's result.
func (s *Stack) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Stack) stop() error {
	s.log.logf("stopping...")
	var errs []error
	if s.cancelBackground != nil {
		s.cancelBackground() // the kubelet stops its servers on the way out
		s.background.Wait()
	}
	if s.operator != nil {
		s.operator.Stop()
	}
	if s.guard != nil {
		s.guard.Kill() // before the control plane stops, so it can never hit a reused group
	}
	if s.env != nil {
		if err := s.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop the control plane: %w", err))
		}
	}
	if s.redis != nil {
		s.redis.Stop()
	}
	if s.ownDir && s.WorkDir != "" {
		if err := os.RemoveAll(s.WorkDir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", s.WorkDir, err))
		}
	}
	s.log.logf("stopped")
	return errors.Join(errs...)
}

// Kill skips the grace periods of a Stop under way (a second Ctrl-C): the servers, the
// operator and Redis are killed at once. The control plane still stops on envtest's terms
// (SIGTERM, then SIGKILL after 15s).
func (s *Stack) Kill() {
	if s.kubelet != nil {
		s.kubelet.killAll()
	}
	if s.operator != nil {
		s.operator.Kill()
	}
	if s.redis != nil {
		s.redis.Kill()
	}
}
