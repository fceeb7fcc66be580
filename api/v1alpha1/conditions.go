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

// Condition reasons of a DeviceClient.
const (
	// ReasonResolved: realmRef names a realm that admits the client.
	ReasonResolved = "Resolved"
	// ReasonRealmNotFound: realmRef names no AuthRealm.
	ReasonRealmNotFound = "RealmNotFound"
	// ReasonNamespaceNotAdmitted: the realm's clientNamespaceSelector does not select the
	// client's namespace.
	ReasonNamespaceNotAdmitted = "NamespaceNotAdmitted"
	// ReasonClientIDConflict: an older DeviceClient registers the same client id in the realm.
	ReasonClientIDConflict = "ClientIDConflict"
	// ReasonRefsNotResolved: nothing is registered because realmRef did not resolve.
	ReasonRefsNotResolved = "RefsNotResolved"
	// ReasonRealmNotReady: the realm's Redis settings or keys are not available yet.
	ReasonRealmNotReady = "RealmNotReady"
	// ReasonRedisUnavailable: the realm's Redis did not answer; nothing was changed.
	ReasonRedisUnavailable = "RedisUnavailable"
	// ReasonRegistered: the client's registration in Redis matches its spec and credentials.
	ReasonRegistered = "Registered"
	// ReasonRegistrationRestored: Redis had lost the registration and the operator wrote it again.
	ReasonRegistrationRestored = "RegistrationRestored"
	// ReasonCredentialsNotReady: nothing is registered until the credentials Secret is usable.
	ReasonCredentialsNotReady = "CredentialsNotReady"
	// ReasonTokenIssued: the operator wrote the credentials Secret with a registered token.
	ReasonTokenIssued = "TokenIssued"
	// ReasonCredentialsProvided: the user's credentials Secret holds a registered token.
	ReasonCredentialsProvided = "CredentialsProvided"
	// ReasonCredentialsNotRequired: app clients have no credentials Secret.
	ReasonCredentialsNotRequired = "NotRequired"
	// ReasonInvalidCredentials: the credentials Secret holds something that is not a token of
	// this client.
	ReasonInvalidCredentials = "InvalidCredentials"
	// ReasonTokenExpired: the user's credentials Secret holds an expired token.
	ReasonTokenExpired = "TokenExpired"
	// ReasonSecretNotOwned: a Secret of the credentials name exists and is not the operator's.
	ReasonSecretNotOwned = "SecretNotOwned"
	// ReasonDeletionBlocked: a deleted client waits for its realm's Redis to deregister it.
	ReasonDeletionBlocked = "DeregistrationPending"
)
