package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AuthRealmSpec declares one auth realm: its servers, its Redis, its dialects and its policies.
// +kubebuilder:validation:XValidation:rule="!has(self.podDisruptionBudget) || !has(self.podDisruptionBudget.minAvailable) || !has(self.podDisruptionBudget.maxUnavailable)",message="podDisruptionBudget: set minAvailable or maxUnavailable, not both"
// +kubebuilder:validation:XValidation:rule="!has(self.ingress) || (has(self.bruteForce) && has(self.bruteForce.trustedProxies) && size(self.bruteForce.trustedProxies) > 0)",message="spec.bruteForce.trustedProxies is required with spec.ingress: list the CIDRs of the ingress controller's pods (e.g. your pod network, 10.244.0.0/16), so the servers take each client's address from X-Forwarded-For; behind the proxy every client otherwise has the proxy's address, and bruteForce.maxFailuresPerIP (default 100) failed logins from anyone would lock every login of the realm"
type AuthRealmSpec struct {
	// replicas is the number of auth-server pods. Leave it unset when an autoscaler owns the
	// scale subresource.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// image is the auth-server image; empty uses the operator's own image.
	// +optional
	Image string `json:"image,omitempty"`

	// imagePullPolicy is the pull policy of the server containers.
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// imagePullSecrets are the Secrets used to pull the image.
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// resources are the server container's requests and limits. The default requests 100m CPU
	// and 64Mi memory, and limits memory to 256Mi.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// scheduling places the server pods.
	// +optional
	Scheduling Scheduling `json:"scheduling,omitempty"`

	// podTemplate adds labels, annotations and environment to the server pods.
	// +optional
	PodTemplate PodTemplateOverrides `json:"podTemplate,omitempty"`

	// redis is where the realm keeps users, sessions and tokens. Set exactly one of managed
	// and external; the default is a managed Redis.
	// +optional
	// +kubebuilder:default={managed:{}}
	Redis *RedisSpec `json:"redis,omitempty"`

	// protocols enables the dialects the servers speak, each under its own path prefix.
	// +required
	Protocols ProtocolsSpec `json:"protocols"`

	// sessions sets session lifetimes and the session cookie.
	// +optional
	// +kubebuilder:default={}
	Sessions SessionsSpec `json:"sessions,omitempty"`

	// passwords sets the password policy and argon2id hashing cost.
	// +optional
	// +kubebuilder:default={}
	Passwords PasswordsSpec `json:"passwords,omitempty"`

	// registration says who may create accounts.
	// +optional
	// +kubebuilder:default={}
	Registration RegistrationSpec `json:"registration,omitempty"`

	// bruteForce limits failed logins: a client that signed in before per device cookie,
	// strangers per address, per login and per (login, address) pair (docs/security.md).
	// +optional
	// +kubebuilder:default={}
	BruteForce BruteForceSpec `json:"bruteForce,omitempty"`

	// rateLimits bounds registrations, reset requests and confirmation mails per client address
	// and per login; past a limit clients get 429.
	// +optional
	// +kubebuilder:default={}
	RateLimits RateLimitsSpec `json:"rateLimits,omitempty"`

	// email configures the reset and confirmation mails. Without smtp, mails are logged
	// (development only).
	// +optional
	Email EmailSpec `json:"email,omitempty"`

	// allowedOrigins lists the browser origins (scheme://host[:port]) allowed by CORS and by
	// the WebSocket Origin check.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Pattern=`^https?://[^/\s]+$`
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`

	// clientNamespaceSelector selects the namespaces whose DeviceClients may attach to this
	// realm. Unset admits the realm's own namespace only; {} admits every namespace.
	// +optional
	ClientNamespaceSelector *metav1.LabelSelector `json:"clientNamespaceSelector,omitempty"`

	// requireRegisteredClients makes keyToken refuse a client id that no DeviceClient of type
	// app registered.
	// +optional
	RequireRegisteredClients bool `json:"requireRegisteredClients,omitempty"`

	// podDisruptionBudget overrides the budget created when replicas > 1 (default
	// maxUnavailable 1).
	// +optional
	PodDisruptionBudget *PodDisruptionBudgetSpec `json:"podDisruptionBudget,omitempty"`

	// networkPolicy admits traffic to the servers only on their ports and from the listed
	// peers, and to a managed Redis only from the realm's servers and the operator (by its
	// namespace and label). It is on unless enabled is false.
	// +optional
	// +kubebuilder:default={}
	NetworkPolicy *NetworkPolicySpec `json:"networkPolicy,omitempty"`

	// ingress, when set, exposes the public port through an Ingress. It requires
	// bruteForce.trustedProxies: the CIDRs of the ingress controller's pods.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`

	// publicURL is the URL the realm's clients reach its servers at, e.g.
	// https://auth.example.com. Mails that link to the API itself (deviseToken's reset and
	// confirmation links) use it. Unset, it is https://{ingress.host} when the Ingress has a
	// TLS Secret, http://{ingress.host} when it has none, and without an Ingress those mails
	// link to email.resetURL and email.confirmURL instead.
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://[^/?#\s]+(/[^?#\s]*)?$`
	PublicURL string `json:"publicURL,omitempty"`

	// serviceMonitor, when enabled, creates a Prometheus Operator ServiceMonitor for the
	// admin port (only when that CRD is installed in the cluster).
	// +optional
	ServiceMonitor *ServiceMonitorSpec `json:"serviceMonitor,omitempty"`

	// logLevel is the servers' log level.
	// +optional
	// +kubebuilder:default=info
	LogLevel LogLevel `json:"logLevel,omitempty"`
}

// LogLevel is a server log level.
// +kubebuilder:validation:Enum=debug;info;warn;error
type LogLevel string

// Scheduling places pods.
type Scheduling struct {
	// nodeSelector constrains the pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// tolerations let the pods run on tainted nodes.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// affinity replaces the pods' affinity.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// topologySpreadConstraints replaces the default spread across nodes and zones.
	// +optional
	// +listType=atomic
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// priorityClassName is the pods' priority class.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// PodTemplateOverrides adds metadata and environment to generated pods.
type PodTemplateOverrides struct {
	// labels are added to the pods (the operator's own selector labels win).
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// annotations are added to the pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// env is added to the server container.
	// +optional
	// +listType=map
	// +listMapKey=name
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// RedisSpec selects the realm's Redis.
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.external)",message="redis: set exactly one of managed (the operator runs Redis) or external (you name a Redis)"
type RedisSpec struct {
	// managed makes the operator run a single Redis StatefulSet with AOF on a PVC.
	// +optional
	Managed *ManagedRedisSpec `json:"managed,omitempty"`
	// external names a Redis you run: standalone, Sentinel or Cluster.
	// +optional
	External *ExternalRedisSpec `json:"external,omitempty"`
}

// ManagedRedisSpec configures the Redis the operator runs.
type ManagedRedisSpec struct {
	// image is the Redis image. The default is the one `make images` builds from Debian's
	// redis-server (hack/REDIS_IMAGE); any image whose PATH has redis-server and redis-cli
	// (7.0 or later) works, e.g. redis:7.4-alpine.
	// +optional
	// +kubebuilder:default="latchauth/redis:7.0.15"
	Image string `json:"image,omitempty"`
	// storageSize is the size of the AOF volume.
	// +optional
	// +kubebuilder:default="1Gi"
	StorageSize *resource.Quantity `json:"storageSize,omitempty"`
	// storageClassName is the volume's storage class; empty uses the cluster default.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
	// resources are the Redis container's requests and limits.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// RedisMode is how the servers connect to an external Redis.
// +kubebuilder:validation:Enum=Standalone;Sentinel;Cluster
type RedisMode string

// The external Redis modes.
const (
	RedisStandalone RedisMode = "Standalone"
	RedisSentinel   RedisMode = "Sentinel"
	RedisCluster    RedisMode = "Cluster"
)

// ExternalRedisSpec names a Redis the user runs.
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'Sentinel' || has(self.masterName)",message="redis.external.masterName is required when mode is Sentinel"
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'Cluster' || !has(self.db) || self.db == 0",message="redis.external.db must be 0 when mode is Cluster"
type ExternalRedisSpec struct {
	// mode is Standalone, Sentinel or Cluster.
	// +optional
	// +kubebuilder:default=Standalone
	Mode RedisMode `json:"mode,omitempty"`
	// addresses are host:port pairs: the server, the sentinels, or cluster seed nodes.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +kubebuilder:validation:items:Pattern=`^[^\s:/]+:[0-9]{1,5}$`
	Addresses []string `json:"addresses"`
	// masterName is the Sentinel master set name.
	// +optional
	MasterName string `json:"masterName,omitempty"`
	// username is the Redis ACL user.
	// +optional
	Username string `json:"username,omitempty"`
	// passwordSecretRef names the Secret key holding the Redis password.
	// +optional
	PasswordSecretRef *SecretKeyRef `json:"passwordSecretRef,omitempty"`
	// db is the database number (not in Cluster mode).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=15
	DB int32 `json:"db,omitempty"`
	// tls enables TLS to Redis.
	// +optional
	TLS *RedisTLSSpec `json:"tls,omitempty"`
	// keyPrefix is prepended to every key, so several realms can share one Redis.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9:_.-]*$`
	KeyPrefix string `json:"keyPrefix,omitempty"`
	// fence makes every write that ends or changes a session (logout, login, token rotation,
	// password change) wait for replicas to acknowledge it before it is answered, so a
	// failover cannot bring back a logged-out session.
	// +optional
	Fence *RedisFenceSpec `json:"fence,omitempty"`
}

// RedisFenceSpec is the replication acknowledgement a write waits for (Redis WAIT).
// +kubebuilder:validation:XValidation:rule="!has(self.timeout) || (duration(self.timeout) > duration('0s') && duration(self.timeout) < duration('1s'))",message="redis.external.fence.timeout must be more than 0s and less than 1s"
type RedisFenceSpec struct {
	// replicas is how many replicas must acknowledge a write; 0 turns the fence off. Unset:
	// 1 in Sentinel and Cluster mode, 0 in Standalone mode. It must not exceed the replicas
	// each master has: a write that is not acknowledged in time fails (500) rather than
	// answer a success a failover could undo. In Sentinel mode 1 is exact with any number of
	// replicas (the servers refuse these writes while the sentinels announce a failover); in
	// Cluster mode it must equal the replicas each master has.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=16
	Replicas *int32 `json:"replicas,omitempty"`
	// timeout is how long a write waits for the acknowledgements (default 250ms); it must be
	// shorter than a second (the servers' Redis read timeout).
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// SecretKeyRef names one key of a Secret in the realm's namespace.
type SecretKeyRef struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// key is the key inside the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`
}

// RedisTLSSpec configures TLS to Redis.
type RedisTLSSpec struct {
	// caSecretRef names a Secret key holding the PEM CA bundle; unset uses the system roots.
	// +optional
	CASecretRef *SecretKeyRef `json:"caSecretRef,omitempty"`
	// serverName overrides the name checked in the server certificate.
	// +optional
	ServerName string `json:"serverName,omitempty"`
	// insecureSkipVerify disables certificate checks. Never use it in production.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// ProtocolsSpec enables dialects. A dialect that is present is enabled unless enabled is false.
// +kubebuilder:validation:XValidation:rule="(has(self.reactAuth) && self.reactAuth.enabled) || (has(self.deviseToken) && self.deviseToken.enabled) || (has(self.account) && self.account.enabled) || (has(self.bearerToken) && self.bearerToken.enabled) || (has(self.keyToken) && self.keyToken.enabled)",message="protocols: enable at least one dialect"
// +kubebuilder:validation:XValidation:rule="[has(self.reactAuth) && self.reactAuth.enabled ? self.reactAuth.prefix : '#1', has(self.deviseToken) && self.deviseToken.enabled ? self.deviseToken.prefix : '#2', has(self.account) && self.account.enabled ? self.account.prefix : '#3', has(self.bearerToken) && self.bearerToken.enabled ? self.bearerToken.prefix : '#4', has(self.keyToken) && self.keyToken.enabled ? self.keyToken.prefix : '#5'].all(p, [has(self.reactAuth) && self.reactAuth.enabled ? self.reactAuth.prefix : '#1', has(self.deviseToken) && self.deviseToken.enabled ? self.deviseToken.prefix : '#2', has(self.account) && self.account.enabled ? self.account.prefix : '#3', has(self.bearerToken) && self.bearerToken.enabled ? self.bearerToken.prefix : '#4', has(self.keyToken) && self.keyToken.enabled ? self.keyToken.prefix : '#5'].exists_one(q, q == p))",message="protocols: two enabled dialects use the same prefix; give each enabled dialect its own prefix"
type ProtocolsSpec struct {
	// reactAuth is the @fantaptik/react-auth dialect: form/JSON POST plus a WebSocket.
	// +optional
	ReactAuth *ReactAuthSpec `json:"reactAuth,omitempty"`
	// deviseToken is the devise_token_auth dialect (redux-token-auth, j-toker, ng-token-auth).
	// +optional
	DeviseToken *DeviseTokenSpec `json:"deviseToken,omitempty"`
	// account is the cookie-session JSON dialect.
	// +optional
	Account *AccountSpec `json:"account,omitempty"`
	// bearerToken is the user/device bearer-token dialect with the status envelope.
	// +optional
	BearerToken *BearerTokenSpec `json:"bearerToken,omitempty"`
	// keyToken is the key/token/refresh dialect with Basic auth.
	// +optional
	KeyToken *KeyTokenSpec `json:"keyToken,omitempty"`
}

// ReactAuthSpec configures the reactAuth dialect.
type ReactAuthSpec struct {
	// enabled turns the dialect on.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// prefix is the dialect's path prefix: an absolute path without a trailing slash.
	// +optional
	// +kubebuilder:default="/react-auth"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="prefix must be an absolute path starting with '/'"
	// +kubebuilder:validation:XValidation:rule="self == '/' || !self.endsWith('/')",message="prefix must not end with '/' (write /auth, not /auth/)"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9/._~-]*$') && !self.contains('//')",message="prefix may hold only letters, digits, '/', '.', '_', '~' and '-', without '//'"
	Prefix string `json:"prefix,omitempty"`
}

// DevicePolicy says what happens past maxDevices.
// +kubebuilder:validation:Enum=EvictOldest;DenyNew
type DevicePolicy string

// The device policies.
const (
	// EvictOldest ends the user's oldest device session (devise_token_auth's behaviour).
	EvictOldest DevicePolicy = "EvictOldest"
	// DenyNew refuses the new sign-in.
	DenyNew DevicePolicy = "DenyNew"
)

// DeviseTokenSpec configures the deviseToken dialect.
// +kubebuilder:validation:XValidation:rule="!has(self.batchRequestBuffer) || !has(self.tokenLifespan) || duration(self.batchRequestBuffer) < duration(self.tokenLifespan)",message="batchRequestBuffer must be shorter than tokenLifespan"
type DeviseTokenSpec struct {
	// enabled turns the dialect on.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// prefix is the dialect's path prefix: an absolute path without a trailing slash.
	// +optional
	// +kubebuilder:default="/auth"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="prefix must be an absolute path starting with '/'"
	// +kubebuilder:validation:XValidation:rule="self == '/' || !self.endsWith('/')",message="prefix must not end with '/' (write /auth, not /auth/)"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9/._~-]*$') && !self.contains('//')",message="prefix may hold only letters, digits, '/', '.', '_', '~' and '-', without '//'"
	Prefix string `json:"prefix,omitempty"`
	// tokenLifespan is how long a token lives, sliding on each rotation.
	// +optional
	// +kubebuilder:default="336h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="tokenLifespan must be a positive duration"
	TokenLifespan *metav1.Duration `json:"tokenLifespan,omitempty"`
	// batchRequestBuffer is the window after a rotation in which the current token is echoed
	// and the previous one still accepted, so parallel requests all succeed.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="batchRequestBuffer must be a positive duration"
	BatchRequestBuffer *metav1.Duration `json:"batchRequestBuffer,omitempty"`
	// maxDevices is how many clients (devices) one user may be signed in on at once.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxDevices int32 `json:"maxDevices,omitempty"`
	// devicePolicy is what happens on a sign-in past maxDevices.
	// +optional
	// +kubebuilder:default=EvictOldest
	DevicePolicy DevicePolicy `json:"devicePolicy,omitempty"`
	// allowPasswordChangeFor is how long the session a reset link opens (GET
	// {prefix}/password/edit) may change the password once without current_password
	// (devise's allow_password_change).
	// +optional
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('24h')",message="allowPasswordChangeFor must be a positive duration of at most 24h"
	AllowPasswordChangeFor *metav1.Duration `json:"allowPasswordChangeFor,omitempty"`
	// currentPasswordOptional lets every session change the password without
	// current_password, as devise_token_auth does by default. Off by default: a session
	// alone, perhaps stolen, must not be enough to lock the user out.
	// +optional
	CurrentPasswordOptional bool `json:"currentPasswordOptional,omitempty"`
}

// AccountSpec configures the account dialect.
type AccountSpec struct {
	// enabled turns the dialect on.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// prefix is the dialect's path prefix: an absolute path without a trailing slash.
	// +optional
	// +kubebuilder:default="/account"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="prefix must be an absolute path starting with '/'"
	// +kubebuilder:validation:XValidation:rule="self == '/' || !self.endsWith('/')",message="prefix must not end with '/' (write /auth, not /auth/)"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9/._~-]*$') && !self.contains('//')",message="prefix may hold only letters, digits, '/', '.', '_', '~' and '-', without '//'"
	Prefix string `json:"prefix,omitempty"`
}

// BearerTokenSpec configures the bearerToken dialect.
type BearerTokenSpec struct {
	// enabled turns the dialect on.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// prefix is the dialect's path prefix: an absolute path without a trailing slash.
	// +optional
	// +kubebuilder:default="/api"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="prefix must be an absolute path starting with '/'"
	// +kubebuilder:validation:XValidation:rule="self == '/' || !self.endsWith('/')",message="prefix must not end with '/' (write /auth, not /auth/)"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9/._~-]*$') && !self.contains('//')",message="prefix may hold only letters, digits, '/', '.', '_', '~' and '-', without '//'"
	Prefix string `json:"prefix,omitempty"`
	// tokenLifespan is the lifetime of user tokens.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="tokenLifespan must be a positive duration"
	TokenLifespan *metav1.Duration `json:"tokenLifespan,omitempty"`
}

// KeyTokenSpec configures the keyToken dialect.
// +kubebuilder:validation:XValidation:rule="!has(self.accessTokenLifespan) || !has(self.refreshTokenLifespan) || duration(self.accessTokenLifespan) <= duration(self.refreshTokenLifespan)",message="accessTokenLifespan must not be longer than refreshTokenLifespan"
type KeyTokenSpec struct {
	// enabled turns the dialect on.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// prefix is the dialect's path prefix: an absolute path; "/" serves /users at the root.
	// +optional
	// +kubebuilder:default="/"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="prefix must be an absolute path starting with '/'"
	// +kubebuilder:validation:XValidation:rule="self == '/' || !self.endsWith('/')",message="prefix must not end with '/' (write /auth, not /auth/)"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9/._~-]*$') && !self.contains('//')",message="prefix may hold only letters, digits, '/', '.', '_', '~' and '-', without '//'"
	Prefix string `json:"prefix,omitempty"`
	// accessTokenLifespan is the lifetime of access tokens.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="accessTokenLifespan must be a positive duration"
	AccessTokenLifespan *metav1.Duration `json:"accessTokenLifespan,omitempty"`
	// refreshTokenLifespan is the lifetime of refresh tokens.
	// +optional
	// +kubebuilder:default="336h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="refreshTokenLifespan must be a positive duration"
	RefreshTokenLifespan *metav1.Duration `json:"refreshTokenLifespan,omitempty"`
}

// SameSite is a cookie SameSite mode.
// +kubebuilder:validation:Enum=Lax;Strict;None
type SameSite string

// SessionsSpec sets session lifetimes and the cookie.
// +kubebuilder:validation:XValidation:rule="!has(self.idleTimeout) || !has(self.absoluteTimeout) || duration(self.idleTimeout) <= duration(self.absoluteTimeout)",message="sessions.idleTimeout must not be longer than sessions.absoluteTimeout"
type SessionsSpec struct {
	// idleTimeout ends a session unused for this long.
	// +optional
	// +kubebuilder:default="336h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="idleTimeout must be a positive duration"
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty"`
	// absoluteTimeout ends a session this long after login, however much it is used.
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="absoluteTimeout must be a positive duration"
	AbsoluteTimeout *metav1.Duration `json:"absoluteTimeout,omitempty"`
	// cookie sets the session cookie of the cookie dialects.
	// +optional
	// +kubebuilder:default={}
	Cookie CookieSpec `json:"cookie,omitempty"`
}

// CookieSpec sets the session cookie.
// +kubebuilder:validation:XValidation:rule="!has(self.sameSite) || self.sameSite != 'None' || (has(self.secure) && self.secure)",message="cookie.sameSite None requires cookie.secure true"
type CookieSpec struct {
	// name is the cookie's name.
	// +optional
	// +kubebuilder:default="latch_session"
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
	Name string `json:"name,omitempty"`
	// domain is the cookie's Domain attribute; empty means host-only.
	// +optional
	Domain string `json:"domain,omitempty"`
	// secure marks the cookie Secure, so browsers send it over HTTPS only. It is true unless
	// set to false, which only a realm served over plain HTTP (local development) needs; an
	// ingress with TLS keeps it true.
	// +optional
	// +kubebuilder:default=true
	Secure *bool `json:"secure,omitempty"`
	// sameSite is the cookie's SameSite mode.
	// +optional
	// +kubebuilder:default=Lax
	SameSite SameSite `json:"sameSite,omitempty"`
}

// PasswordsSpec sets the password policy and hashing cost.
// +kubebuilder:validation:XValidation:rule="!has(self.minLength) || !has(self.maxLength) || self.minLength <= self.maxLength",message="passwords.minLength must not exceed passwords.maxLength"
type PasswordsSpec struct {
	// minLength is the shortest accepted password, in characters.
	// +optional
	// +kubebuilder:default=8
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	MinLength int32 `json:"minLength,omitempty"`
	// maxLength is the longest accepted password, in bytes; longer ones are refused, never
	// truncated.
	// +optional
	// +kubebuilder:default=256
	// +kubebuilder:validation:Minimum=8
	// +kubebuilder:validation:Maximum=4096
	MaxLength int32 `json:"maxLength,omitempty"`
	// hashing sets the argon2id cost. The default is OWASP's baseline (19 MiB, 2 passes, 1
	// lane), about 40 ms of one core.
	// +optional
	// +kubebuilder:default={}
	Hashing HashingSpec `json:"hashing,omitempty"`
}

// HashingSpec is the argon2id cost and the hashing pool size.
type HashingSpec struct {
	// memoryKiB is argon2id's memory per hash, in KiB.
	// +optional
	// +kubebuilder:default=19456
	// +kubebuilder:validation:Minimum=8192
	// +kubebuilder:validation:Maximum=1048576
	MemoryKiB int32 `json:"memoryKiB,omitempty"`
	// iterations is argon2id's number of passes.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	Iterations int32 `json:"iterations,omitempty"`
	// parallelism is argon2id's number of lanes.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	Parallelism int32 `json:"parallelism,omitempty"`
	// workers bounds concurrent hashes per server; unset uses the pod's CPU count. Peak
	// hashing memory is workers × memoryKiB.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	Workers *int32 `json:"workers,omitempty"`
}

// RegistrationMode says who may register.
// +kubebuilder:validation:Enum=Open;Closed
type RegistrationMode string

// The registration modes.
const (
	RegistrationOpen   RegistrationMode = "Open"
	RegistrationClosed RegistrationMode = "Closed"
)

// RegistrationSpec says who may create accounts.
type RegistrationSpec struct {
	// mode is Open (anyone may register) or Closed.
	// +optional
	// +kubebuilder:default=Open
	Mode RegistrationMode `json:"mode,omitempty"`
	// emailConfirmation says whether new accounts confirm their email: None (active at once,
	// no mail), Optional (a confirmation mail; the account is pending until it is followed
	// but may log in meanwhile, for unconfirmedAccessFor when set) or Required (pending
	// accounts cannot log in through any dialect until confirmed).
	// +optional
	// +kubebuilder:default=None
	EmailConfirmation EmailConfirmationMode `json:"emailConfirmation,omitempty"`
	// unconfirmedAccessFor bounds, under Optional, how long after registering an account that
	// has not confirmed its email may log in (devise's allow_unconfirmed_access_for); unset
	// is no bound.
	// +optional
	UnconfirmedAccessFor *metav1.Duration `json:"unconfirmedAccessFor,omitempty"`
}

// EmailConfirmationMode is None, Optional or Required.
// +kubebuilder:validation:Enum=None;Optional;Required
type EmailConfirmationMode string

// The email confirmation modes.
const (
	EmailConfirmationNone     EmailConfirmationMode = "None"
	EmailConfirmationOptional EmailConfirmationMode = "Optional"
	EmailConfirmationRequired EmailConfirmationMode = "Required"
)

// BruteForceSpec limits failed logins. A client holding a device cookie from an earlier sign-in
// to a login is judged by that cookie's counter alone, so strangers cannot lock the owner out;
// other clients are counted per address (IPv6 per /64), per (login, address) pair and per
// login. Past half a login's, pair's or device's limit each failure holds it back for a
// doubling delay; at the limit it is locked for lockout.
type BruteForceSpec struct {
	// maxFailuresPerLogin within window locks the login name, existing or not, for clients
	// without a device cookie for it. The default keeps at most 100 wrong guesses an hour
	// (ASVS's cap).
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	MaxFailuresPerLogin int32 `json:"maxFailuresPerLogin,omitempty"`
	// maxFailuresPerIP within window locks the client address (IPv6: its /64) for every login
	// it holds no device cookie for.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	MaxFailuresPerIP int32 `json:"maxFailuresPerIP,omitempty"`
	// maxFailuresPerLoginAndIP within window locks one login from one address, so one address
	// spends at most this much of a login's budget.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	MaxFailuresPerLoginAndIP int32 `json:"maxFailuresPerLoginAndIP,omitempty"`
	// maxFailuresPerDevice within window locks one device cookie.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	MaxFailuresPerDevice int32 `json:"maxFailuresPerDevice,omitempty"`
	// delay is the first progressive delay, doubled at each failure past half a limit.
	// +optional
	// +kubebuilder:default="1s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="delay must be a positive duration"
	Delay *metav1.Duration `json:"delay,omitempty"`
	// window is the period over which failures are counted.
	// +optional
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="window must be a positive duration"
	Window *metav1.Duration `json:"window,omitempty"`
	// lockout is how long a locked login, address, pair or device stays locked.
	// +optional
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="lockout must be a positive duration"
	Lockout *metav1.Duration `json:"lockout,omitempty"`
	// deviceCookieLifespan is how long a device cookie is honoured after its sign-in.
	// +optional
	// +kubebuilder:default="4320h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="deviceCookieLifespan must be a positive duration"
	DeviceCookieLifespan *metav1.Duration `json:"deviceCookieLifespan,omitempty"`
	// trustedProxies lists the CIDRs whose X-Forwarded-For header names the client address.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	TrustedProxies []string `json:"trustedProxies,omitempty"`
}

// RateLimitsSpec bounds the unauthenticated requests that cost a password hash or send mail.
type RateLimitsSpec struct {
	// register bounds registrations (default 20 per address and 5 per login an hour).
	// +optional
	Register *RateLimitSpec `json:"register,omitempty"`
	// forgot bounds password-reset requests (default 20 per address and 3 per login an hour);
	// a user keeps up to perLogin reset links valid at once.
	// +optional
	Forgot *RateLimitSpec `json:"forgot,omitempty"`
	// confirmation bounds requests that mail a confirmation link (default 20 per address and 3
	// per login an hour).
	// +optional
	Confirmation *RateLimitSpec `json:"confirmation,omitempty"`
}

// RateLimitSpec is a number of requests per client address and per login within a window;
// unset fields take the action's default.
type RateLimitSpec struct {
	// perIP is the requests allowed per client address (IPv6: per /64) within window.
	// +optional
	// +kubebuilder:validation:Minimum=1
	PerIP int32 `json:"perIP,omitempty"`
	// perLogin is the requests allowed per login, existing or not, within window.
	// +optional
	// +kubebuilder:validation:Minimum=1
	PerLogin int32 `json:"perLogin,omitempty"`
	// window is the period over which requests are counted.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="window must be a positive duration"
	Window *metav1.Duration `json:"window,omitempty"`
}

// SMTPSecurity is how the SMTP connection is secured.
// +kubebuilder:validation:Enum=StartTLS;TLS;None
type SMTPSecurity string

// EmailSpec configures outgoing mail.
type EmailSpec struct {
	// smtp is the mail server; unset logs mails instead (development only).
	// +optional
	SMTP *SMTPSpec `json:"smtp,omitempty"`
	// from is the sender address.
	// +optional
	// +kubebuilder:default="no-reply@latch.local"
	From string `json:"from,omitempty"`
	// resetURL is the page that receives ?uid=USER_ID&t=RESET_TOKEN.
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://`
	ResetURL string `json:"resetURL,omitempty"`
	// confirmURL is the page that receives ?uid=USER_ID&t=CONFIRM_TOKEN.
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://`
	ConfirmURL string `json:"confirmURL,omitempty"`
	// resetTokenLifespan is how long a reset link works.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="resetTokenLifespan must be a positive duration"
	ResetTokenLifespan *metav1.Duration `json:"resetTokenLifespan,omitempty"`
	// confirmTokenLifespan is how long a confirmation link works.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="confirmTokenLifespan must be a positive duration"
	ConfirmTokenLifespan *metav1.Duration `json:"confirmTokenLifespan,omitempty"`
	// templatesConfigMapName names a ConfigMap whose keys reset.txt, reset.html, confirm.txt
	// and confirm.html override the built-in templates.
	// +optional
	TemplatesConfigMapName string `json:"templatesConfigMapName,omitempty"`
}

// SMTPSpec is an SMTP server.
type SMTPSpec struct {
	// host is the server's host name.
	// +required
	// +kubebuilder:validation:MinLength=1
	Host string `json:"host"`
	// port is the server's port; unset picks 587 (StartTLS), 465 (TLS) or 25 (None).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
	// security is StartTLS, TLS (implicit) or None.
	// +optional
	// +kubebuilder:default=StartTLS
	Security SMTPSecurity `json:"security,omitempty"`
	// credentialsSecretName names a Secret with keys username and password for SMTP AUTH.
	// +optional
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`
}

// PodDisruptionBudgetSpec overrides the servers' disruption budget.
type PodDisruptionBudgetSpec struct {
	// minAvailable is the number or percentage of servers that must stay up.
	// +optional
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`
	// maxUnavailable is the number or percentage of servers that may be down.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// NetworkPolicySpec restricts traffic to the servers and to a managed Redis.
type NetworkPolicySpec struct {
	// enabled creates the NetworkPolicies; false removes them.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// from lists the peers allowed to reach the public port; empty allows every peer.
	// +optional
	// +listType=atomic
	From []networkingv1.NetworkPolicyPeer `json:"from,omitempty"`
	// metricsFrom lists the peers allowed to reach the admin port; empty allows every peer.
	// +optional
	// +listType=atomic
	MetricsFrom []networkingv1.NetworkPolicyPeer `json:"metricsFrom,omitempty"`
}

// IngressSpec exposes the servers.
type IngressSpec struct {
	// host is the public host name.
	// +required
	// +kubebuilder:validation:MinLength=1
	Host string `json:"host"`
	// className is the IngressClass.
	// +optional
	ClassName *string `json:"className,omitempty"`
	// tlsSecretName names the TLS certificate Secret; setting it marks cookies Secure.
	// +optional
	TLSSecretName string `json:"tlsSecretName,omitempty"`
	// annotations are added to the Ingress.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ServiceMonitorSpec configures the Prometheus Operator ServiceMonitor.
type ServiceMonitorSpec struct {
	// enabled creates the ServiceMonitor when its CRD exists.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// interval is the scrape interval.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Pattern=`^[0-9]+(ms|s|m|h)$`
	Interval string `json:"interval,omitempty"`
	// labels are added to the ServiceMonitor, so a Prometheus selector picks it up.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// AuthRealmStatus is the observed state of a realm.
type AuthRealmStatus struct {
	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions are Ready, Available, Progressing, RedisReady and Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// replicas is the number of server pods.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// readyReplicas is the number of ready server pods.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// selector is the pods' label selector, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`
	// endpoint is the in-cluster URL of the public port.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// configHash is the hash of every input of the pod template.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`
}

// AuthRealm is an auth realm: a fleet of auth servers sharing one user and session store.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=realm;realms,categories=latch
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=string,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AuthRealm struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired realm.
	// +required
	Spec AuthRealmSpec `json:"spec"`
	// status is the observed realm.
	// +optional
	Status AuthRealmStatus `json:"status,omitempty"`
}

// AuthRealmList is a list of AuthRealms.
// +kubebuilder:object:root=true
type AuthRealmList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuthRealm `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AuthRealm{}, &AuthRealmList{})
}
