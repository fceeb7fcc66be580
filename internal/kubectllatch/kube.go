package kubectllatch

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// Cluster is what the plugin talks to: the core API (pods, exec, SelfSubjectReview) and
// Latch's own API group, in the namespace the command line and kubeconfig select.
type Cluster struct {
	Config *rest.Config
	Core   kubernetes.Interface
	// Latch is a REST client of auth.latch.dev/v1alpha1. A plain REST client needs no
	// discovery round trip or REST mapper for two resources whose paths are known.
	Latch rest.Interface
	// Namespace is -n, else the kubeconfig context's namespace, else "default".
	Namespace string
	// KubeconfigUser is the kubeconfig user (AuthInfo) name of the context in use: the actor
	// when the API server cannot say who the caller is.
	KubeconfigUser string
}

// loadCluster reads the kubeconfig the way kubectl does ($KUBECONFIG, ~/.kube/config, or
// in-cluster), with --kubeconfig, --context and -n applied.
func loadCluster(inv invocation) (*Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = inv.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: inv.context}
	overrides.Context.Namespace = inv.namespace
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	c, err := NewCluster(cfg, ns)
	if err != nil {
		return nil, err
	}
	if raw, err := cc.RawConfig(); err == nil {
		name := inv.context
		if name == "" {
			name = raw.CurrentContext
		}
		if kctx := raw.Contexts[name]; kctx != nil {
			c.KubeconfigUser = kctx.AuthInfo
		}
	}
	return c, nil
}

// NewCluster makes the clients for cfg, working in namespace ns.
func NewCluster(cfg *rest.Config, ns string) (*Cluster, error) {
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := authv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	lc := rest.CopyConfig(cfg)
	lc.GroupVersion = &authv1.GroupVersion
	lc.APIPath = "/apis"
	lc.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if lc.UserAgent == "" {
		lc.UserAgent = "kubectl-latch"
	}
	latch, err := rest.RESTClientFor(lc)
	if err != nil {
		return nil, err
	}
	return &Cluster{Config: cfg, Core: core, Latch: latch, Namespace: ns}, nil
}
