package controllers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/store"
)

func checkConditions(t *testing.T, st authv1.DeviceClientStatus, want map[string]wantCond) {
	t.Helper()
	for typ, w := range want {
		c := meta.FindStatusCondition(st.Conditions, typ)
		if c == nil {
			t.Errorf("condition %s missing", typ)
			continue
		}
		if c.Status != w.status || c.Reason != w.reason {
			t.Errorf("condition %s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, w.status, w.reason)
		}
		if c.Message == "" {
			t.Errorf("condition %s has no message", typ)
		}
	}
}

func TestComputeDeviceClientStatus(t *testing.T) {
	realm := types.NamespacedName{Namespace: "auth", Name: "main"}
	now := epoch.Add(1500 * time.Millisecond)
	exp := epoch.Add(720*time.Hour + 700*time.Millisecond)
	registered := &registrationState{Live: true, TokenExpiresAt: exp, TokenIssuedAt: epoch, Changed: true}
	refused := &problem{authv1.ReasonNamespaceNotAdmitted, "label the namespace"}
	outage := fmt.Errorf("list device tokens: %w", store.ErrUnavailable)
	app := func() *authv1.DeviceClient {
		dc := testDeviceClient()
		dc.Spec.Type = authv1.ClientApp
		// Left over from when it was a device: cleared.
		dc.Status.DeviceID, dc.Status.SecretName = "uid-1", "sensor-credentials"
		return dc
	}
	for name, tc := range map[string]struct {
		obs   clientObservation
		want  map[string]wantCond
		check func(t *testing.T, st authv1.DeviceClientStatus)
	}{
		"device registered": {
			obs: clientObservation{CredentialsOK: true, Registration: registered},
			want: map[string]wantCond{
				authv1.ConditionRefsResolved:     {metav1.ConditionTrue, authv1.ReasonResolved},
				authv1.ConditionCredentialsReady: {metav1.ConditionTrue, authv1.ReasonTokenIssued},
				authv1.ConditionRegistered:       {metav1.ConditionTrue, authv1.ReasonRegistered},
				authv1.ConditionReady:            {metav1.ConditionTrue, authv1.ReasonReconciled},
			},
			check: func(t *testing.T, st authv1.DeviceClientStatus) {
				if st.ClientID != "sensor" || st.DeviceID != "uid-1" || st.SecretName != "sensor-credentials" || st.ObservedGeneration != 3 {
					t.Errorf("fields = %+v", st)
				}
				// Whole seconds, as the API stores them: a status read back compares equal.
				if st.TokenExpiresAt == nil || !st.TokenExpiresAt.Time.Equal(epoch.Add(720*time.Hour)) {
					t.Errorf("tokenExpiresAt = %v", st.TokenExpiresAt)
				}
				if st.LastRotationTime == nil || !st.LastRotationTime.Time.Equal(epoch) {
					t.Errorf("lastRotationTime = %v", st.LastRotationTime)
				}
				if c := meta.FindStatusCondition(st.Conditions, authv1.ConditionRegistered); !strings.Contains(c.Message, "2026-03-31T12:00:00Z") {
					t.Errorf("message does not say until when the token is valid: %q", c.Message)
				}
			},
		},
		"restored": {
			obs: clientObservation{CredentialsOK: true, Registration: &registrationState{Live: true, TokenExpiresAt: exp, Restored: true}},
			want: map[string]wantCond{
				authv1.ConditionRegistered: {metav1.ConditionTrue, authv1.ReasonRegistrationRestored},
				authv1.ConditionReady:      {metav1.ConditionTrue, authv1.ReasonReconciled},
			},
		},
		"refused by the realm": {
			obs: clientObservation{RefsProblem: refused},
			want: map[string]wantCond{
				authv1.ConditionRefsResolved:     {metav1.ConditionFalse, authv1.ReasonNamespaceNotAdmitted},
				authv1.ConditionCredentialsReady: {metav1.ConditionUnknown, authv1.ReasonRefsNotResolved},
				authv1.ConditionRegistered:       {metav1.ConditionFalse, authv1.ReasonRefsNotResolved},
				authv1.ConditionReady:            {metav1.ConditionFalse, authv1.ReasonNamespaceNotAdmitted},
			},
			check: func(t *testing.T, st authv1.DeviceClientStatus) {
				if c := meta.FindStatusCondition(st.Conditions, authv1.ConditionRegistered); !strings.Contains(c.Message, "label the namespace") {
					t.Errorf("Registered does not say what to change: %q", c.Message)
				}
			},
		},
		"realm keys not there yet": {
			obs: clientObservation{RealmProblem: &problem{authv1.ReasonRealmNotReady, "Secret auth/main-keys does not exist yet"}},
			want: map[string]wantCond{
				authv1.ConditionRefsResolved:     {metav1.ConditionTrue, authv1.ReasonResolved},
				authv1.ConditionCredentialsReady: {metav1.ConditionUnknown, authv1.ReasonRealmNotReady},
				authv1.ConditionRegistered:       {metav1.ConditionFalse, authv1.ReasonRealmNotReady},
				authv1.ConditionReady:            {metav1.ConditionFalse, authv1.ReasonRealmNotReady},
			},
		},
		"Redis down": {
			obs: clientObservation{Err: outage},
			want: map[string]wantCond{
				authv1.ConditionCredentialsReady: {metav1.ConditionUnknown, authv1.ReasonRedisUnavailable},
				authv1.ConditionRegistered:       {metav1.ConditionUnknown, authv1.ReasonRedisUnavailable},
				authv1.ConditionReady:            {metav1.ConditionFalse, authv1.ReasonRedisUnavailable},
			},
			check: func(t *testing.T, st authv1.DeviceClientStatus) {
				if c := meta.FindStatusCondition(st.Conditions, authv1.ConditionRegistered); !strings.Contains(c.Message, "nothing was changed") {
					t.Errorf("the message does not say the registration was left alone: %q", c.Message)
				}
			},
		},
		"another API error": {
			obs: clientObservation{Err: errors.New("apply Secret: conflict")},
			want: map[string]wantCond{
				authv1.ConditionRegistered: {metav1.ConditionUnknown, authv1.ReasonReconcileError},
			},
		},
		"waiting for a user's Secret": {
			obs: clientObservation{
				Client: func() *authv1.DeviceClient {
					dc := testDeviceClient()
					dc.Spec.Credentials.Create = authv1.CreateNever
					return dc
				}(),
				CredentialsProblem: &problem{authv1.ReasonSecretMissing, "waiting for Secret apps/ext"},
				Registration:       &registrationState{},
			},
			want: map[string]wantCond{
				authv1.ConditionCredentialsReady: {metav1.ConditionFalse, authv1.ReasonSecretMissing},
				authv1.ConditionRegistered:       {metav1.ConditionFalse, authv1.ReasonCredentialsNotReady},
				authv1.ConditionReady:            {metav1.ConditionFalse, authv1.ReasonSecretMissing},
			},
			check: func(t *testing.T, st authv1.DeviceClientStatus) {
				if st.TokenExpiresAt != nil {
					t.Errorf("no token, yet tokenExpiresAt = %v", st.TokenExpiresAt)
				}
			},
		},
		"a broken Secret leaves the registered token": {
			obs: clientObservation{
				CredentialsProblem: &problem{authv1.ReasonInvalidCredentials, "not a device token"},
				Registration:       &registrationState{Live: true, TokenExpiresAt: exp},
			},
			want: map[string]wantCond{
				authv1.ConditionCredentialsReady: {metav1.ConditionFalse, authv1.ReasonInvalidCredentials},
				authv1.ConditionRegistered:       {metav1.ConditionTrue, authv1.ReasonRegistered},
				authv1.ConditionReady:            {metav1.ConditionFalse, authv1.ReasonInvalidCredentials},
			},
		},
		"a user's token": {
			obs: clientObservation{
				Client: func() *authv1.DeviceClient {
					dc := testDeviceClient()
					dc.Spec.Credentials.Create = authv1.CreateNever
					return dc
				}(),
				CredentialsOK: true, Registration: registered,
			},
			want: map[string]wantCond{authv1.ConditionCredentialsReady: {metav1.ConditionTrue, authv1.ReasonCredentialsProvided}},
		},
		"app client": {
			obs: clientObservation{Client: app(), Registration: &registrationState{Live: true, Changed: true}},
			want: map[string]wantCond{
				authv1.ConditionCredentialsReady: {metav1.ConditionTrue, authv1.ReasonCredentialsNotRequired},
				authv1.ConditionRegistered:       {metav1.ConditionTrue, authv1.ReasonRegistered},
				authv1.ConditionReady:            {metav1.ConditionTrue, authv1.ReasonReconciled},
			},
			check: func(t *testing.T, st authv1.DeviceClientStatus) {
				if st.DeviceID != "" || st.SecretName != "" || st.TokenExpiresAt != nil {
					t.Errorf("an app client reports device fields: %+v", st)
				}
				if c := meta.FindStatusCondition(st.Conditions, authv1.ConditionRegistered); !strings.Contains(c.Message, "roles telemetry") {
					t.Errorf("the message does not name the roles: %q", c.Message)
				}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			o := tc.obs
			if o.Client == nil {
				o.Client = testDeviceClient()
			}
			o.Realm, o.Now = realm, now
			st := computeDeviceClientStatus(o)
			checkConditions(t, st, tc.want)
			for _, c := range st.Conditions {
				if c.ObservedGeneration != 3 || !c.LastTransitionTime.Time.Equal(epoch.Add(time.Second)) {
					t.Errorf("condition %s: generation %d, transition %s", c.Type, c.ObservedGeneration, c.LastTransitionTime)
				}
			}
			if tc.check != nil {
				tc.check(t, st)
			}
		})
	}
}

// TestRestoredStaysVisible: after a restore, later resyncs that change nothing keep the
// condition's reason, so the loss is visible until the registration next changes; a change
// replaces it.
func TestRestoredStaysVisible(t *testing.T) {
	realm := types.NamespacedName{Namespace: "auth", Name: "main"}
	dc := testDeviceClient()
	exp := epoch.Add(time.Hour)
	dc.Status = computeDeviceClientStatus(clientObservation{Client: dc, Realm: realm, CredentialsOK: true, Now: epoch,
		Registration: &registrationState{Live: true, TokenExpiresAt: exp, Restored: true}})

	later := computeDeviceClientStatus(clientObservation{Client: dc, Realm: realm, CredentialsOK: true, Now: epoch.Add(time.Minute),
		Registration: &registrationState{Live: true, TokenExpiresAt: exp}})
	checkConditions(t, later, map[string]wantCond{authv1.ConditionRegistered: {metav1.ConditionTrue, authv1.ReasonRegistrationRestored}})
	c := meta.FindStatusCondition(later.Conditions, authv1.ConditionRegistered)
	if !c.LastTransitionTime.Time.Equal(epoch) {
		t.Errorf("an unchanged condition moved its transition time to %s", c.LastTransitionTime)
	}

	dc.Status = later
	rotated := computeDeviceClientStatus(clientObservation{Client: dc, Realm: realm, CredentialsOK: true, Now: epoch.Add(2 * time.Minute),
		Registration: &registrationState{Live: true, TokenExpiresAt: exp.Add(time.Hour), Changed: true}})
	checkConditions(t, rotated, map[string]wantCond{authv1.ConditionRegistered: {metav1.ConditionTrue, authv1.ReasonRegistered}})
}

func TestDeletionBlockedStatus(t *testing.T) {
	dc := testDeviceClient()
	st := deletionBlockedStatus(dc, types.NamespacedName{Namespace: "auth", Name: "main"}, fmt.Errorf("revoke: %w", store.ErrUnavailable), epoch)
	checkConditions(t, st, map[string]wantCond{
		authv1.ConditionRegistered: {metav1.ConditionUnknown, authv1.ReasonDeletionBlocked},
		authv1.ConditionReady:      {metav1.ConditionFalse, authv1.ReasonDeletionBlocked},
	})
	if c := meta.FindStatusCondition(st.Conditions, authv1.ConditionRegistered); !strings.Contains(c.Message, "deletionPolicy to Orphan") {
		t.Errorf("the message does not say how to let the deletion finish: %q", c.Message)
	}
}
