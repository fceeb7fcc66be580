package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClientOptions are the options of the client the controllers run with (ctrl.Options.Client):
// Secrets and ConfigMaps are read straight from the API server, never from the manager's
// cache, and the controllers watch them as metadata only (builder.OnlyMetadata).
//
// The operator must notice a change to any Secret or ConfigMap that a realm or a client
// references, which means a cluster-wide watch; but caching the objects themselves would keep
// every Secret value of the cluster in the operator's memory, growing with the cluster and
// exposed by any heap dump. A metadata watch still sees every change (each bumps the
// resourceVersion), and a reconcile reads the few objects it needs when it needs them.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{
		DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
	}}
}
