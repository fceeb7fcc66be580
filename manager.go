package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/controllers"
)

// newScheme holds every type the operator reads or writes.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(authv1.AddToScheme(s))
	return s
}

// runManager runs the operator until SIGTERM.
func runManager(args []string) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	metricsAddr := fs.String("metrics-bind-address", ":8443", "address of the Prometheus metrics endpoint (0 disables it)")
	metricsSecure := fs.Bool("metrics-secure", true,
		"serve metrics over HTTPS to callers the API server authenticates (TokenReview) and authorizes for GET /metrics (SubjectAccessReview); false serves plain HTTP to anyone")
	enableHTTP2 := fs.Bool("enable-http2", false, "serve the HTTPS metrics endpoint over HTTP/2 too (off: HTTP/2 stream-reset attacks, CVE-2023-44487, CVE-2023-39325)")
	operatorNS := fs.String("operator-namespace", "",
		"namespace of the operator's own pods, admitted (with the label app.kubernetes.io/name=latch-operator) by each managed Redis's NetworkPolicy (default: $POD_NAMESPACE, then the in-cluster service account's namespace)")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	leaderElect := fs.Bool("leader-elect", false, "elect a leader so only one replica reconciles")
	leaderNamespace := fs.String("leader-election-namespace", "", "namespace of the leader-election lease (default: the pod's own)")
	watchNamespaces := fs.String("watch-namespaces", "", "comma-separated namespaces to watch (default: all)")
	serverImage := fs.String("server-image", defaultImage(), "auth-server image for realms that name none")
	clientResync := fs.Duration("client-resync-period", controllers.DefaultClientResyncPeriod,
		"how often each DeviceClient's registration is verified in its realm's Redis and rewritten if Redis lost it")
	clientWorkers := fs.Int("client-workers", controllers.DefaultClientWorkers, "how many DeviceClients are reconciled at once")
	realmWorkers := fs.Int("realm-workers", controllers.DefaultRealmWorkers, "how many AuthRealms are reconciled at once")
	// --kubeconfig, as every controller-runtime manager has it (default: in-cluster config,
	// then $KUBECONFIG).
	ctrlconfig.RegisterFlags(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clientWorkers <= 0 || *realmWorkers <= 0 {
		return fmt.Errorf("--client-workers and --realm-workers must be positive, got %d and %d", *clientWorkers, *realmWorkers)
	}
	if *clientResync <= 0 {
		return fmt.Errorf("--client-resync-period must be positive, got %s", *clientResync)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	// go-redis logs through a process-wide logger (the operator's Redis clients reach the
	// realms' stores): without this, its lines would be plain text among the structured ones.
	redisstore.SetClientLogger(slog.New(logr.ToSlogHandler(ctrl.Log.WithName("redis"))))

	scheme := newScheme()
	metrics := metricsserver.Options{BindAddress: *metricsAddr, SecureServing: *metricsSecure}
	if *metricsSecure {
		// As kubebuilder scaffolds it: a self-signed certificate, and every request's bearer
		// token reviewed by the API server, which also decides whether its owner may GET
		// /metrics (the chart's <release>-metrics-reader ClusterRole).
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
		if !*enableHTTP2 {
			metrics.TLSOpts = append(metrics.TLSOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
		}
	}
	ownNamespace := resolveOperatorNamespace(*operatorNS)
	if ownNamespace == "" {
		ctrl.Log.WithName("setup").Info("the operator's namespace is unknown (no --operator-namespace, $POD_NAMESPACE or service account namespace): managed Redis NetworkPolicies admit no operator pod")
	}
	opts := ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metrics,
		HealthProbeBindAddress:        *probeAddr,
		LeaderElection:                *leaderElect,
		LeaderElectionID:              "latch-operator.latch.dev",
		LeaderElectionNamespace:       *leaderNamespace,
		LeaderElectionReleaseOnCancel: true,
		Client:                        controllers.ClientOptions(),
	}
	if *watchNamespaces != "" {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range strings.Split(*watchNamespaces, ",") {
			if ns = strings.TrimSpace(ns); ns != "" {
				opts.Cache.DefaultNamespaces[ns] = cache.Config{}
			}
		}
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), opts)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := (&controllers.AuthRealmReconciler{
		Client:            mgr.GetClient(),
		Scheme:            scheme,
		ServerImage:       *serverImage,
		Workers:           *realmWorkers,
		OperatorNamespace: ownNamespace,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up AuthRealm controller: %w", err)
	}
	if err := (&controllers.DeviceClientReconciler{
		Client:       mgr.GetClient(),
		Scheme:       scheme,
		Recorder:     mgr.GetEventRecorder("latch-deviceclient"),
		ResyncPeriod: *clientResync,
		Workers:      *clientWorkers,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up DeviceClient controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}
	ctrl.Log.WithName("setup").Info("starting manager", "serverImage", *serverImage, "watchNamespaces", *watchNamespaces,
		"clientResyncPeriod", *clientResync, "operatorNamespace", ownNamespace, "metricsSecure", *metricsSecure)
	return mgr.Start(ctrl.SetupSignalHandler())
}

// serviceAccountNamespaceFile is where the kubelet puts the pod's namespace beside its token.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// resolveOperatorNamespace is the namespace the operator runs in: the flag, else
// $POD_NAMESPACE (the chart sets it from the downward API), else the in-cluster service
// account's namespace file; empty when none is known (run outside a cluster).
func resolveOperatorNamespace(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}
