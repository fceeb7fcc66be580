package v1alpha1

// Condition types of an AuthRealm.
const (
	// ConditionReady is True when the realm serves traffic with its current spec.
	ConditionReady = "Ready"
	// ConditionAvailable is True when at least the minimum number of servers is ready.
	ConditionAvailable = "Available"
	// ConditionProgressing is True while a rollout of a new spec is under way.
	ConditionProgressing = "Progressing"
	// ConditionRedisReady is True when the realm's Redis is ready (managed) or configured (external).
	ConditionRedisReady = "RedisReady"
	// ConditionDegraded is True when something needs attention: a spec to fix, a failing rollout.
	ConditionDegraded = "Degraded"
)

// Condition types of a DeviceClient.
const (
	// ConditionRegistered is True when the client is registered in the realm's Redis.
	ConditionRegistered = "Registered"
	// ConditionCredentialsReady is True when the credentials Secret holds a registered token.
	ConditionCredentialsReady = "CredentialsReady"
	// ConditionRefsResolved is True when realmRef names a realm that admits this client.
	ConditionRefsResolved = "RefsResolved"
)

// Condition reasons. Every condition carries one.
const (
	ReasonReconciled          = "Reconciled"
	ReasonAvailable           = "MinimumReplicasAvailable"
	ReasonUnavailable         = "MinimumReplicasUnavailable"
	ReasonRollingOut          = "RollingOut"
	ReasonRolledOut           = "RolledOut"
	ReasonRolloutStuck        = "ProgressDeadlineExceeded"
	ReasonScaledToZero        = "ScaledToZero"
	ReasonRedisManagedReady   = "ManagedRedisReady"
	ReasonRedisManagedPending = "ManagedRedisNotReady"
	ReasonRedisExternal       = "ExternalRedisConfigured"
	ReasonSecretMissing       = "SecretNotFound"
	ReasonSecretKeyMissing    = "SecretKeyNotFound"
	ReasonInvalidSpec         = "InvalidSpec"
	ReasonAsExpected          = "AsExpected"
	ReasonReconcileError      = "ReconcileError"
)
