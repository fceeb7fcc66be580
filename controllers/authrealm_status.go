package controllers

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// problem is something the user must fix; it is reported in a condition, never returned as
// an error, because retrying cannot help.
type problem struct {
	Reason  string
	Message string
}

// realmObservation is everything the status functions need, read by the reconciler.
type realmObservation struct {
	Realm      *authv1.AuthRealm
	Deployment *appsv1.Deployment  // nil when not created yet
	Redis      *appsv1.StatefulSet // nil for external Redis or when not created yet
	Problems   []problem           // specs and references the user must fix
	Warnings   []problem           // things that do not stop the realm (a missing ServiceMonitor CRD)
	ConfigHash string
	Err        error // a transient error of this reconcile
	Now        metav1.Time
}

// computeRealmStatus returns the realm's new status. It is pure.
func computeRealmStatus(o realmObservation) authv1.AuthRealmStatus {
	r := o.Realm
	st := *r.Status.DeepCopy()
	st.ObservedGeneration = r.Generation
	st.Selector = labels.SelectorFromSet(selectorLabels(r)).String()
	st.Endpoint = endpointURL(r)
	if o.ConfigHash != "" {
		st.ConfigHash = o.ConfigHash
	}
	st.Replicas, st.ReadyReplicas = 0, 0
	if d := o.Deployment; d != nil {
		st.Replicas = d.Status.Replicas
		st.ReadyReplicas = d.Status.ReadyReplicas
	}

	set := func(c metav1.Condition) {
		c.ObservedGeneration = r.Generation
		c.LastTransitionTime = o.Now
		meta.SetStatusCondition(&st.Conditions, c)
	}

	redis := redisCondition(o)
	set(redis)
	avail := availableCondition(o)
	set(avail)
	prog := progressingCondition(o)
	set(prog)
	deg := degradedCondition(o, prog)
	set(deg)

	ready := metav1.Condition{Type: authv1.ConditionReady, Status: metav1.ConditionTrue, Reason: authv1.ReasonReconciled,
		Message: fmt.Sprintf("%d/%d servers ready at %s", st.ReadyReplicas, desiredReplicas(r), st.Endpoint)}
	switch {
	case deg.Status == metav1.ConditionTrue:
		ready = notReady(deg)
	case redis.Status != metav1.ConditionTrue:
		ready = notReady(redis)
	case avail.Status != metav1.ConditionTrue:
		ready = notReady(avail)
	case prog.Status == metav1.ConditionTrue:
		ready = notReady(prog)
	}
	set(ready)
	return st
}

func notReady(cause metav1.Condition) metav1.Condition {
	return metav1.Condition{Type: authv1.ConditionReady, Status: metav1.ConditionFalse, Reason: cause.Reason, Message: cause.Message}
}

func redisCondition(o realmObservation) metav1.Condition {
	c := metav1.Condition{Type: authv1.ConditionRedisReady}
	if e := o.Realm.Spec.ExternalRedis(); e != nil {
		c.Status, c.Reason = metav1.ConditionTrue, authv1.ReasonRedisExternal
		c.Message = fmt.Sprintf("external %s Redis at %s", e.Mode, strings.Join(e.Addresses, ","))
		return c
	}
	ready := int32(0)
	if o.Redis != nil {
		ready = o.Redis.Status.ReadyReplicas
	}
	if ready >= 1 {
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, authv1.ReasonRedisManagedReady, "managed Redis is ready"
		return c
	}
	c.Status, c.Reason = metav1.ConditionFalse, authv1.ReasonRedisManagedPending
	c.Message = fmt.Sprintf("waiting for StatefulSet %s to have a ready pod", redisName(o.Realm))
	return c
}

func availableCondition(o realmObservation) metav1.Condition {
	c := metav1.Condition{Type: authv1.ConditionAvailable}
	want := desiredReplicas(o.Realm)
	ready := int32(0)
	if o.Deployment != nil {
		ready = o.Deployment.Status.ReadyReplicas
	}
	switch {
	case want == 0:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, authv1.ReasonScaledToZero, "spec.replicas is 0: no server runs"
	case ready >= 1:
		c.Status, c.Reason = metav1.ConditionTrue, authv1.ReasonAvailable
		c.Message = fmt.Sprintf("%d/%d servers ready", ready, want)
	default:
		c.Status, c.Reason = metav1.ConditionFalse, authv1.ReasonUnavailable
		c.Message = fmt.Sprintf("0/%d servers ready", want)
	}
	return c
}

func progressingCondition(o realmObservation) metav1.Condition {
	c := metav1.Condition{Type: authv1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: authv1.ReasonRollingOut}
	d := o.Deployment
	if d == nil {
		c.Message = "creating the server Deployment"
		return c
	}
	for _, dc := range d.Status.Conditions {
		if dc.Type == appsv1.DeploymentProgressing && dc.Status == "False" && dc.Reason == "ProgressDeadlineExceeded" {
			c.Status, c.Reason = metav1.ConditionFalse, authv1.ReasonRolloutStuck
			c.Message = fmt.Sprintf("rollout of Deployment %s exceeded its progress deadline: %s", d.Name, dc.Message)
			return c
		}
	}
	want := desiredReplicas(o.Realm)
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		c.Message = "waiting for the Deployment controller to observe the new pod template"
	case s.UpdatedReplicas < want:
		c.Message = fmt.Sprintf("%d/%d servers updated to the current config", s.UpdatedReplicas, want)
	case s.Replicas > s.UpdatedReplicas:
		c.Message = fmt.Sprintf("%d old servers still terminating", s.Replicas-s.UpdatedReplicas)
	case s.ReadyReplicas < want:
		c.Message = fmt.Sprintf("%d/%d servers ready", s.ReadyReplicas, want)
	default:
		c.Status, c.Reason = metav1.ConditionFalse, authv1.ReasonRolledOut
		c.Message = fmt.Sprintf("all %d servers run the current config", want)
	}
	return c
}

func degradedCondition(o realmObservation, prog metav1.Condition) metav1.Condition {
	c := metav1.Condition{Type: authv1.ConditionDegraded, Status: metav1.ConditionTrue}
	switch {
	case len(o.Problems) > 0:
		c.Reason = o.Problems[0].Reason
		msgs := make([]string, len(o.Problems))
		for i, p := range o.Problems {
			msgs[i] = p.Message
		}
		c.Message = strings.Join(msgs, "; ")
	case o.Err != nil:
		c.Reason, c.Message = authv1.ReasonReconcileError, o.Err.Error()
	case prog.Reason == authv1.ReasonRolloutStuck:
		c.Reason, c.Message = prog.Reason, prog.Message
	case len(o.Warnings) > 0:
		// Warnings are reported without degrading the realm.
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, o.Warnings[0].Reason, o.Warnings[0].Message
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, authv1.ReasonAsExpected, "no problems"
	}
	return c
}
