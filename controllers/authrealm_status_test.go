package controllers

import (
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

func statusRealm(replicas int32, external bool) *authv1.AuthRealm {
	r := &authv1.AuthRealm{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", Generation: 4}}
	r.Spec.Replicas = ptr.To(replicas)
	if external {
		r.Spec.Redis = &authv1.RedisSpec{External: &authv1.ExternalRedisSpec{Mode: authv1.RedisStandalone, Addresses: []string{"redis:6379"}}}
	}
	return r
}

func deployment(gen, observed int64, replicas, updated, ready int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "r", Generation: gen}}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated, ReadyReplicas: ready, Conditions: conds}
	return d
}

func readyRedis() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{Status: appsv1.StatefulSetStatus{ReadyReplicas: 1}}
}

type wantCond struct {
	status metav1.ConditionStatus
	reason string
}

func TestComputeRealmStatus(t *testing.T) {
	stuck := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: "False", Reason: "ProgressDeadlineExceeded", Message: "timed out"}
	cases := []struct {
		name string
		obs  realmObservation
		want map[string]wantCond
	}{
		{
			name: "no deployment yet",
			obs:  realmObservation{Realm: statusRealm(2, true)},
			want: map[string]wantCond{
				authv1.ConditionReady:       {metav1.ConditionFalse, authv1.ReasonUnavailable},
				authv1.ConditionAvailable:   {metav1.ConditionFalse, authv1.ReasonUnavailable},
				authv1.ConditionProgressing: {metav1.ConditionTrue, authv1.ReasonRollingOut},
				authv1.ConditionRedisReady:  {metav1.ConditionTrue, authv1.ReasonRedisExternal},
				authv1.ConditionDegraded:    {metav1.ConditionFalse, authv1.ReasonAsExpected},
			},
		},
		{
			name: "all servers ready on a ready managed redis",
			obs:  realmObservation{Realm: statusRealm(2, false), Deployment: deployment(3, 3, 2, 2, 2), Redis: readyRedis()},
			want: map[string]wantCond{
				authv1.ConditionReady:       {metav1.ConditionTrue, authv1.ReasonReconciled},
				authv1.ConditionAvailable:   {metav1.ConditionTrue, authv1.ReasonAvailable},
				authv1.ConditionProgressing: {metav1.ConditionFalse, authv1.ReasonRolledOut},
				authv1.ConditionRedisReady:  {metav1.ConditionTrue, authv1.ReasonRedisManagedReady},
			},
		},
		{
			name: "managed redis not ready holds Ready back",
			obs:  realmObservation{Realm: statusRealm(1, false), Deployment: deployment(1, 1, 1, 1, 1)},
			want: map[string]wantCond{
				authv1.ConditionReady:      {metav1.ConditionFalse, authv1.ReasonRedisManagedPending},
				authv1.ConditionRedisReady: {metav1.ConditionFalse, authv1.ReasonRedisManagedPending},
				authv1.ConditionAvailable:  {metav1.ConditionTrue, authv1.ReasonAvailable},
			},
		},
		{
			name: "rollout under way, old pods serving",
			obs:  realmObservation{Realm: statusRealm(2, true), Deployment: deployment(5, 5, 3, 1, 2)},
			want: map[string]wantCond{
				authv1.ConditionReady:       {metav1.ConditionFalse, authv1.ReasonRollingOut},
				authv1.ConditionAvailable:   {metav1.ConditionTrue, authv1.ReasonAvailable},
				authv1.ConditionProgressing: {metav1.ConditionTrue, authv1.ReasonRollingOut},
			},
		},
		{
			name: "deployment controller has not seen the new template",
			obs:  realmObservation{Realm: statusRealm(1, true), Deployment: deployment(6, 5, 1, 1, 1)},
			want: map[string]wantCond{authv1.ConditionProgressing: {metav1.ConditionTrue, authv1.ReasonRollingOut}},
		},
		{
			name: "rollout stuck degrades the realm",
			obs:  realmObservation{Realm: statusRealm(2, true), Deployment: deployment(2, 2, 2, 1, 1, stuck)},
			want: map[string]wantCond{
				authv1.ConditionProgressing: {metav1.ConditionFalse, authv1.ReasonRolloutStuck},
				authv1.ConditionDegraded:    {metav1.ConditionTrue, authv1.ReasonRolloutStuck},
				authv1.ConditionReady:       {metav1.ConditionFalse, authv1.ReasonRolloutStuck},
			},
		},
		{
			name: "a spec to fix degrades and explains",
			obs: realmObservation{Realm: statusRealm(1, true), Deployment: deployment(1, 1, 1, 1, 1),
				Problems: []problem{{authv1.ReasonSecretMissing, "Secret ns/x does not exist: create it"}}},
			want: map[string]wantCond{
				authv1.ConditionDegraded: {metav1.ConditionTrue, authv1.ReasonSecretMissing},
				authv1.ConditionReady:    {metav1.ConditionFalse, authv1.ReasonSecretMissing},
			},
		},
		{
			name: "a transient error is reported",
			obs:  realmObservation{Realm: statusRealm(1, true), Deployment: deployment(1, 1, 1, 1, 1), Err: errors.New("etcd timeout")},
			want: map[string]wantCond{authv1.ConditionDegraded: {metav1.ConditionTrue, authv1.ReasonReconcileError}},
		},
		{
			name: "a warning does not degrade",
			obs: realmObservation{Realm: statusRealm(1, true), Deployment: deployment(1, 1, 1, 1, 1),
				Warnings: []problem{{"ServiceMonitorCRDMissing", "not installed"}}},
			want: map[string]wantCond{
				authv1.ConditionDegraded: {metav1.ConditionFalse, "ServiceMonitorCRDMissing"},
				authv1.ConditionReady:    {metav1.ConditionTrue, authv1.ReasonReconciled},
			},
		},
		{
			name: "scaled to zero",
			obs:  realmObservation{Realm: statusRealm(0, true), Deployment: deployment(1, 1, 0, 0, 0)},
			want: map[string]wantCond{
				authv1.ConditionAvailable: {metav1.ConditionFalse, authv1.ReasonScaledToZero},
				authv1.ConditionReady:     {metav1.ConditionFalse, authv1.ReasonScaledToZero},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.obs.Now = metav1.NewTime(time.Unix(1000, 0))
			st := computeRealmStatus(tc.obs)
			if st.ObservedGeneration != tc.obs.Realm.Generation {
				t.Errorf("observedGeneration = %d", st.ObservedGeneration)
			}
			if len(st.Conditions) != 5 {
				t.Errorf("want 5 conditions, got %d", len(st.Conditions))
			}
			for _, c := range st.Conditions {
				if c.Reason == "" || c.Message == "" || c.ObservedGeneration != tc.obs.Realm.Generation {
					t.Errorf("condition %s lacks reason, message or generation: %+v", c.Type, c)
				}
			}
			for typ, w := range tc.want {
				c := meta.FindStatusCondition(st.Conditions, typ)
				if c == nil || c.Status != w.status || c.Reason != w.reason {
					t.Errorf("%s = %+v, want %s/%s", typ, c, w.status, w.reason)
				}
			}
		})
	}
}

// TestConditionTransitionTimeKept checks lastTransitionTime moves only when a status flips,
// so an unchanged status compares equal and costs no write.
func TestConditionTransitionTimeKept(t *testing.T) {
	r := statusRealm(1, true)
	t1 := metav1.NewTime(time.Unix(1000, 0))
	r.Status = computeRealmStatus(realmObservation{Realm: r, Deployment: deployment(1, 1, 1, 1, 1), Now: t1})
	st := computeRealmStatus(realmObservation{Realm: r, Deployment: deployment(1, 1, 1, 1, 1), Now: metav1.NewTime(time.Unix(2000, 0))})
	for _, c := range st.Conditions {
		if !c.LastTransitionTime.Equal(&t1) {
			t.Errorf("%s transition time moved without a transition", c.Type)
		}
	}
	st = computeRealmStatus(realmObservation{Realm: r, Deployment: deployment(1, 1, 1, 1, 0), Now: metav1.NewTime(time.Unix(3000, 0))})
	if c := meta.FindStatusCondition(st.Conditions, authv1.ConditionAvailable); c.LastTransitionTime.Unix() != 3000 {
		t.Errorf("Available flipped but its transition time is %v", c.LastTransitionTime)
	}
}
