package v1alpha1

// What the operator renders for a realm that tools outside it rely on: `kubectl latch`, which
// finds the servers' pods and config, and the node's tests, which reach the pods. Defined once
// here, beside the API, so the operator and its tools cannot drift apart.
const (
	// ServerPort is the servers' public port: every dialect, and the realm Service's "http".
	ServerPort = 8080
	// AdminPort is each server's admin port: /metrics and the probes, the Service's "admin".
	AdminPort = 9090
	// ConfigHashAnnotation on the server pod template carries the hash of every input of the
	// pods (status.configHash), so any change rolls them and nothing else does.
	ConfigHashAnnotation = "latch.dev/config-hash"
	// ServerConfigKey is the server config's key in the realm's config ConfigMap, and so its
	// file name in the directory the server pods mount it on.
	ServerConfigKey = "config.json"
)

// ServerConfigMapName is the name of the ConfigMap that holds the server config the operator
// rendered for the realm named realm, in the realm's namespace.
func ServerConfigMapName(realm string) string { return realm + "-config" }
