package controllers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/store"
)

// clientObservation is everything the status functions need, gathered by one reconcile.
type clientObservation struct {
	Client *authv1.DeviceClient
	Realm  types.NamespacedName
	// RefsProblem says why realmRef did not resolve; nil when it did.
	RefsProblem *problem
	// RealmProblem says why the realm's Redis settings or keys are not usable yet.
	RealmProblem *problem
	// CredentialsProblem says what is wrong with the credentials Secret (device clients).
	CredentialsProblem *problem
	// CredentialsOK is set once the credentials Secret was found to hold a usable token.
	CredentialsOK bool
	// Registration is what Redis holds for the client after this reconcile; nil when Redis
	// was not read (an earlier step stopped the reconcile).
	Registration *registrationState
	// Err is a transient error of this reconcile.
	Err error
	Now time.Time
}

// registrationState is a client's registration in Redis as this reconcile left it.
type registrationState struct {
	// Live is set when Redis holds a registration of the client: its app client record, or
	// at least one unexpired device token.
	Live bool
	// TokenExpiresAt and TokenIssuedAt describe the device token the client is registered
	// with: the credentials Secret's, or the latest registered one while the Secret is unusable.
	TokenExpiresAt time.Time
	TokenIssuedAt  time.Time
	// Changed is set when this reconcile changed the registration (a first registration, a new
	// or rotated token, new roles); Restored when it rewrote a registration Redis had lost.
	Changed  bool
	Restored bool
}

// computeDeviceClientStatus returns the client's new status. It is pure.
func computeDeviceClientStatus(o clientObservation) authv1.DeviceClientStatus {
	dc := o.Client
	st := *dc.Status.DeepCopy()
	st.ObservedGeneration = dc.Generation
	st.ClientID = clientIDOf(dc)
	if isDevice(dc) {
		st.DeviceID = deviceIDOf(dc)
		st.SecretName = credentialsSecretName(dc)
		if reg := o.Registration; reg != nil {
			st.TokenExpiresAt = statusTime(reg.TokenExpiresAt)
			st.LastRotationTime = statusTime(reg.TokenIssuedAt)
		}
	} else {
		st.DeviceID, st.SecretName, st.TokenExpiresAt, st.LastRotationTime = "", "", nil, nil
	}

	now := metav1.NewTime(o.Now.UTC().Truncate(time.Second))
	set := func(c metav1.Condition) {
		c.ObservedGeneration = dc.Generation
		c.LastTransitionTime = now
		meta.SetStatusCondition(&st.Conditions, c)
	}
	refs := refsCondition(o)
	set(refs)
	creds := credentialsCondition(o)
	set(creds)
	reg := registeredCondition(o, meta.FindStatusCondition(dc.Status.Conditions, authv1.ConditionRegistered))
	set(reg)

	ready := metav1.Condition{Type: authv1.ConditionReady, Status: metav1.ConditionTrue, Reason: authv1.ReasonReconciled,
		Message: fmt.Sprintf("client %s is registered in realm %s", clientIDOf(dc), o.Realm)}
	for _, c := range []metav1.Condition{refs, creds, reg} {
		if c.Status != metav1.ConditionTrue {
			ready = notReady(c)
			break
		}
	}
	set(ready)
	return st
}

// statusTime is a status timestamp: whole seconds, as metav1.Time serializes, so that a
// status read back compares equal to the one computed and a no-op reconcile writes nothing.
func statusTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

func refsCondition(o clientObservation) metav1.Condition {
	c := metav1.Condition{Type: authv1.ConditionRefsResolved}
	if p := o.RefsProblem; p != nil {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, p.Reason, p.Message
		return c
	}
	c.Status, c.Reason = metav1.ConditionTrue, authv1.ReasonResolved
	c.Message = fmt.Sprintf("AuthRealm %s admits this client", o.Realm)
	return c
}

func credentialsCondition(o clientObservation) metav1.Condition {
	dc := o.Client
	c := metav1.Condition{Type: authv1.ConditionCredentialsReady}
	secret := dc.Namespace + "/" + credentialsSecretName(dc)
	switch {
	case !isDevice(dc):
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, authv1.ReasonCredentialsNotRequired, "app clients have no credentials Secret"
	case o.CredentialsProblem != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, o.CredentialsProblem.Reason, o.CredentialsProblem.Message
	case o.CredentialsOK && createsCredentials(dc):
		c.Status, c.Reason = metav1.ConditionTrue, authv1.ReasonTokenIssued
		c.Message = fmt.Sprintf("Secret %s holds the client's device token", secret)
	case o.CredentialsOK:
		c.Status, c.Reason = metav1.ConditionTrue, authv1.ReasonCredentialsProvided
		c.Message = fmt.Sprintf("Secret %s holds a device token of this client", secret)
	default:
		reason, why := blocker(o)
		c.Status, c.Reason = metav1.ConditionUnknown, reason
		c.Message = fmt.Sprintf("Secret %s is checked once the realm is usable: %s", secret, why)
	}
	return c
}

// blocker is the reason and message of the step that stopped this reconcile early.
func blocker(o clientObservation) (string, string) {
	switch {
	case o.RefsProblem != nil:
		return authv1.ReasonRefsNotResolved, o.RefsProblem.Message
	case o.RealmProblem != nil:
		return o.RealmProblem.Reason, o.RealmProblem.Message
	case o.Err != nil:
		return errorReason(o.Err), o.Err.Error()
	}
	return authv1.ReasonReconcileError, "the reconcile stopped early"
}

func errorReason(err error) string {
	if errors.Is(err, store.ErrUnavailable) {
		return authv1.ReasonRedisUnavailable
	}
	return authv1.ReasonReconcileError
}

func registeredCondition(o clientObservation, previous *metav1.Condition) metav1.Condition {
	dc := o.Client
	id := clientIDOf(dc)
	c := metav1.Condition{Type: authv1.ConditionRegistered}
	reg := o.Registration
	switch {
	case o.Err != nil:
		// A transient failure says nothing about what Redis holds, and changed nothing in it.
		c.Status, c.Reason = metav1.ConditionUnknown, errorReason(o.Err)
		c.Message = fmt.Sprintf("cannot verify the registration of client %s in realm %s: %v; nothing was changed, and it is verified again shortly", id, o.Realm, o.Err)
	case o.RefsProblem != nil:
		c.Status, c.Reason = metav1.ConditionFalse, authv1.ReasonRefsNotResolved
		c.Message = "nothing is registered by this DeviceClient: " + o.RefsProblem.Message
	case o.RealmProblem != nil:
		c.Status, c.Reason = metav1.ConditionFalse, o.RealmProblem.Reason
		c.Message = fmt.Sprintf("waiting for realm %s: %s", o.Realm, o.RealmProblem.Message)
	case reg == nil || !reg.Live:
		c.Status, c.Reason = metav1.ConditionFalse, authv1.ReasonCredentialsNotReady
		c.Message = fmt.Sprintf("nothing is registered for client %s until its credentials Secret holds a usable token", id)
	case reg.Restored:
		c.Status, c.Reason = metav1.ConditionTrue, authv1.ReasonRegistrationRestored
		c.Message = fmt.Sprintf("Redis had lost the registration (flushed, failed over or restored from an old snapshot); it was written again at %s. %s",
			o.Now.UTC().Format(time.RFC3339), registeredMessage(o))
	case !reg.Changed && previous != nil && previous.Status == metav1.ConditionTrue:
		// Verified and unchanged: keep what the condition said, so a restore stays visible
		// until the registration next changes.
		c.Status, c.Reason, c.Message = previous.Status, previous.Reason, previous.Message
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, authv1.ReasonRegistered, registeredMessage(o)
	}
	return c
}

func registeredMessage(o clientObservation) string {
	dc := o.Client
	roles := "no roles"
	if len(dc.Spec.Roles) > 0 {
		roles = "roles " + strings.Join(dc.Spec.Roles, ",")
	}
	if !isDevice(dc) {
		return fmt.Sprintf("app client %s is registered in realm %s with %s", clientIDOf(dc), o.Realm, roles)
	}
	msg := fmt.Sprintf("device client %s is registered in realm %s with %s", clientIDOf(dc), o.Realm, roles)
	if exp := o.Registration.TokenExpiresAt; !exp.IsZero() {
		msg += "; its token is valid until " + exp.UTC().Format(time.RFC3339)
	}
	return msg
}

// deletionBlockedStatus is the status of a deleted client whose registration cannot be
// removed yet, saying how to let the deletion finish without it.
func deletionBlockedStatus(dc *authv1.DeviceClient, realm types.NamespacedName, err error, now time.Time) authv1.DeviceClientStatus {
	st := *dc.Status.DeepCopy()
	c := metav1.Condition{
		Type: authv1.ConditionRegistered, Status: metav1.ConditionUnknown, Reason: authv1.ReasonDeletionBlocked,
		ObservedGeneration: dc.Generation, LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
		Message: fmt.Sprintf("the deletion waits to deregister client %s from realm %s: %v; set spec.deletionPolicy to Orphan to delete without deregistering",
			clientIDOf(dc), realm, err),
	}
	meta.SetStatusCondition(&st.Conditions, c)
	ready := notReady(c)
	ready.ObservedGeneration, ready.LastTransitionTime = c.ObservedGeneration, c.LastTransitionTime
	meta.SetStatusCondition(&st.Conditions, ready)
	return st
}
