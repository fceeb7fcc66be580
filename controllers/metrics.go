package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// registrationsRestored counts DeviceClient registrations the operator found missing from
// their realm's Redis and wrote again: each is Redis losing data it had acknowledged (a flush,
// a failover to a replica that had not caught up, a restore from an old snapshot), and until
// the resync that restored it the client's credentials were refused.
var registrationsRestored = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "latch_deviceclient_registrations_restored_total",
	Help: "DeviceClient registrations found missing from the realm's Redis and written again, by the realm's namespace (realm_namespace: the scrape target has its own namespace label) and name.",
}, []string{"realm_namespace", "realm"})

func init() { metrics.Registry.MustRegister(registrationsRestored) }
