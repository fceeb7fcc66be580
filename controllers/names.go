package controllers

import (
	"fmt"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// Child names are deterministic, so a stale cache can never make the operator create a
// second copy of anything.
func deploymentName(r *authv1.AuthRealm) string     { return r.Name }
func serviceName(r *authv1.AuthRealm) string        { return r.Name }
func serviceAccountName(r *authv1.AuthRealm) string { return r.Name }
func keysSecretName(r *authv1.AuthRealm) string     { return r.Name + "-keys" }
func redisName(r *authv1.AuthRealm) string          { return r.Name + "-redis" }

// endpointURL is the in-cluster URL of the realm's public port.
func endpointURL(r *authv1.AuthRealm) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", serviceName(r), r.Namespace, authv1.ServerPort)
}

const (
	// The servers' ports, the config ConfigMap's name and key and the config-hash annotation
	// are in api/v1alpha1 (rendered.go): kubectl latch and the node's tests rely on them too.
	redisPort = 6379

	// fieldOwner is the server-side apply field manager of every object the operator writes.
	fieldOwner = "latch-operator"

	// Keys of the generated Secret. redis-auth.conf is derived from redis-password: the
	// managed Redis includes it, so the password is never in a process's arguments.
	keyTokenHashKey  = "token-hash-key"
	keyRedisPassword = "redis-password"
	keyRedisAuthConf = "redis-auth.conf"

	// Paths inside the server container.
	configDir       = "/etc/latch/config"
	secretsDir      = "/etc/latch/secrets"
	templatesDir    = "/etc/latch/templates"
	defaultUID      = 65532
	redisUID        = 999
	defaultRedisImg = "latchauth/redis:7.0.15" // hack/REDIS_IMAGE, the CRD's default

	// Paths inside the managed Redis container.
	redisDataDir  = "/data"
	redisAuthDir  = "/etc/redis/auth"
	redisAuthFile = "auth.conf"

	// operatorName is the app.kubernetes.io/name label of the operator's pods (the chart's).
	operatorName = "latch-operator"
)

// Labels.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelPartOf    = "app.kubernetes.io/part-of"
	labelRealm     = "latch.dev/realm"
)

// selectorLabels select a realm's server pods; they never change for the life of the realm
// because a Deployment's selector is immutable.
func selectorLabels(r *authv1.AuthRealm) map[string]string {
	return map[string]string{labelName: "latch-server", labelInstance: r.Name}
}

func redisSelectorLabels(r *authv1.AuthRealm) map[string]string {
	return map[string]string{labelName: "latch-redis", labelInstance: r.Name}
}

// commonLabels go on every child.
func commonLabels(r *authv1.AuthRealm, component string) map[string]string {
	return map[string]string{
		labelName:      "latch-server",
		labelInstance:  r.Name,
		labelComponent: component,
		labelManagedBy: "latch-operator",
		labelPartOf:    "latch",
		labelRealm:     r.Name,
	}
}
