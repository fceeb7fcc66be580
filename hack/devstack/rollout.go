package devstack

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// How the kubelet stand-in follows a Deployment, as pure functions of what it observes.
//
// Each replica has a fixed slot (an index, and the loopback ports that go with it), so a
// replacement has to stop the old process before the new one can bind the same ports: a roll
// replaces one replica at a time, and only while every other replica is ready. With two or
// more replicas the realm keeps serving through a roll, on fewer replicas; sessions live in
// Redis, so none ends. (A real Deployment surges a new pod first; that needs a new address,
// which would change the replica's URL.) A replica that is not ready anyway is replaced at
// once, so a fixed config replaces a crash-looping one without waiting.

// slotState is what the kubelet knows of one replica slot that has a process.
type slotState struct {
	Index int
	// Hash is the pod template hash the process was started from.
	Hash  string
	Ready bool
}

type actionKind int

const (
	actStart   actionKind = iota // start a process in an empty slot
	actStop                      // stop the process of a slot past the replica count
	actReplace                   // stop the process, then start one from the current template
)

func (a actionKind) String() string {
	return [...]string{"start", "stop", "replace"}[a]
}

type action struct {
	Kind  actionKind
	Index int
}

func (a action) String() string { return fmt.Sprintf("%s %d", a.Kind, a.Index) }

// planRollout returns what to do to move slots toward want replicas of template hash: stop
// the slots past want, start the empty ones, replace the outdated ones that are not ready,
// and replace one outdated ready replica when every other replica is ready.
func planRollout(want int, hash string, slots []slotState) []action {
	bySlot := map[int]slotState{}
	for _, s := range slots {
		bySlot[s.Index] = s
	}
	var stops, now []action
	allReady := true
	var outdatedReady []int
	for _, s := range slots {
		if s.Index >= want {
			stops = append(stops, action{actStop, s.Index})
		}
	}
	for i := 0; i < want; i++ {
		s, ok := bySlot[i]
		switch {
		case !ok:
			now = append(now, action{actStart, i})
			allReady = false
		case s.Hash != hash && !s.Ready:
			now = append(now, action{actReplace, i})
			allReady = false
		case !s.Ready:
			allReady = false
		case s.Hash != hash:
			outdatedReady = append(outdatedReady, i)
		}
	}
	sort.Slice(stops, func(i, j int) bool { return stops[i].Index > stops[j].Index })
	out := append(stops, now...)
	if allReady && len(outdatedReady) > 0 {
		out = append(out, action{actReplace, outdatedReady[0]})
	}
	return out
}

// templateHash identifies a pod template: any change of it (the operator's config hash
// annotation among others) makes a new hash, as the pod-template-hash of a Deployment's
// ReplicaSets does.
func templateHash(t *corev1.PodTemplateSpec) string {
	b, err := json.Marshal(t)
	if err != nil {
		// A PodTemplateSpec read from the API always encodes.
		panic(fmt.Sprintf("encode pod template: %v", err))
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())[:10]
}

// deploymentReplicas is spec.replicas, 1 when unset (the API server defaults it anyway).
func deploymentReplicas(d *appsv1.Deployment) int {
	if d.Spec.Replicas == nil {
		return 1
	}
	return int(*d.Spec.Replicas)
}

// deploymentStatus is the status a Deployment has with these processes, written the way the
// Deployment controller writes it, so the operator reads it as it would on a cluster. Times
// of unchanged conditions are kept, so an unchanged world is an unchanged status.
func deploymentStatus(d *appsv1.Deployment, hash string, slots []slotState, now metav1.Time) appsv1.DeploymentStatus {
	want := int32(deploymentReplicas(d))
	st := *d.Status.DeepCopy()
	st.ObservedGeneration = d.Generation
	st.Replicas, st.UpdatedReplicas, st.ReadyReplicas = int32(len(slots)), 0, 0
	for _, s := range slots {
		if s.Hash == hash {
			st.UpdatedReplicas++
		}
		if s.Ready {
			st.ReadyReplicas++
		}
	}
	st.AvailableReplicas = st.ReadyReplicas
	st.UnavailableReplicas = max(want-st.AvailableReplicas, 0)

	maxUnavailable := intstr.FromString("25%")
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		maxUnavailable = *ru.MaxUnavailable
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(&maxUnavailable, int(want), false)
	if err != nil {
		unavailable = 0
	}
	available := appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
		Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."}
	if st.AvailableReplicas < want-int32(unavailable) {
		available.Status, available.Reason, available.Message = corev1.ConditionFalse, "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
	}
	progressing := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
		Reason: "ReplicaSetUpdated", Message: fmt.Sprintf("ReplicaSet %q is progressing.", d.Name+"-"+hash)}
	if st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want {
		progressing.Reason = "NewReplicaSetAvailable"
		progressing.Message = fmt.Sprintf("ReplicaSet %q has successfully progressed.", d.Name+"-"+hash)
	}
	st.Conditions = []appsv1.DeploymentCondition{
		withTimes(available, d.Status.Conditions, now),
		withTimes(progressing, d.Status.Conditions, now),
	}
	return st
}

// withTimes stamps a condition: the transition time moves when the status changes, the
// update time when anything of it changes.
func withTimes(c appsv1.DeploymentCondition, old []appsv1.DeploymentCondition, now metav1.Time) appsv1.DeploymentCondition {
	c.LastTransitionTime, c.LastUpdateTime = now, now
	for _, o := range old {
		if o.Type != c.Type {
			continue
		}
		if o.Status == c.Status {
			c.LastTransitionTime = o.LastTransitionTime
			if o.Reason == c.Reason && o.Message == c.Message {
				c.LastUpdateTime = o.LastUpdateTime
			}
		}
	}
	return c
}
