package devstack

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestPlanRollout(t *testing.T) {
	const cur, old = "new", "old"
	tests := []struct {
		name  string
		want  int
		slots []slotState
		plan  []action
	}{
		{
			name: "nothing runs: start every replica at once",
			want: 2,
			plan: []action{{actStart, 0}, {actStart, 1}},
		},
		{
			name:  "all current and ready: nothing to do",
			want:  2,
			slots: []slotState{{0, cur, true}, {1, cur, true}},
		},
		{
			name:  "a new template: replace one ready replica, the lowest",
			want:  2,
			slots: []slotState{{0, old, true}, {1, old, true}},
			plan:  []action{{actReplace, 0}},
		},
		{
			name:  "mid-roll, the replaced one not ready yet: wait",
			want:  2,
			slots: []slotState{{0, cur, false}, {1, old, true}},
		},
		{
			name:  "mid-roll, the replaced one ready: replace the next",
			want:  2,
			slots: []slotState{{0, cur, true}, {1, old, true}},
			plan:  []action{{actReplace, 1}},
		},
		{
			name:  "an outdated replica that is not ready is replaced at once",
			want:  2,
			slots: []slotState{{0, old, false}, {1, old, false}},
			plan:  []action{{actReplace, 0}, {actReplace, 1}},
		},
		{
			name:  "a crashed current replica is not replaced (its supervisor restarts it), and holds the roll",
			want:  2,
			slots: []slotState{{0, cur, false}, {1, old, true}},
		},
		{
			name:  "scale down: stop the highest first",
			want:  1,
			slots: []slotState{{0, cur, true}, {1, cur, true}, {2, cur, true}},
			plan:  []action{{actStop, 2}, {actStop, 1}},
		},
		{
			name:  "scale up while ready: start the new slots",
			want:  3,
			slots: []slotState{{0, cur, true}, {1, cur, true}},
			plan:  []action{{actStart, 2}},
		},
		{
			name:  "scale up and a new template: start first, roll once all are ready",
			want:  3,
			slots: []slotState{{0, old, true}, {1, old, true}},
			plan:  []action{{actStart, 2}},
		},
		{
			name:  "scale to zero",
			want:  0,
			slots: []slotState{{0, cur, true}, {1, old, false}},
			plan:  []action{{actStop, 1}, {actStop, 0}},
		},
		{
			name:  "a gap in the slots is filled",
			want:  3,
			slots: []slotState{{0, cur, true}, {2, cur, true}},
			plan:  []action{{actStart, 1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planRollout(tc.want, cur, tc.slots)
			if len(got) == 0 && len(tc.plan) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.plan) {
				t.Errorf("plan = %v, want %v", got, tc.plan)
			}
		})
	}
}

func TestTemplateHash(t *testing.T) {
	tmpl := func(hash string) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{configHashAnnotation: hash}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Args: []string{"server"}}}},
		}
	}
	a, b := templateHash(tmpl("one")), templateHash(tmpl("one"))
	if a != b || len(a) != 10 {
		t.Fatalf("hashes of equal templates: %q, %q", a, b)
	}
	if templateHash(tmpl("two")) == a {
		t.Error("a new config hash did not change the template hash")
	}
	other := tmpl("one")
	other.Spec.Containers[0].Image = "latch:v2"
	if templateHash(other) == a {
		t.Error("a new image did not change the template hash")
	}
}

func TestDeploymentStatus(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "dev", Generation: 3},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromInt32(0))}},
		},
	}

	rolling := deploymentStatus(d, "h2", []slotState{{0, "h2", false}, {1, "h1", true}}, t0)
	want := appsv1.DeploymentStatus{
		ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UnavailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable",
				Message: "Deployment does not have minimum availability.", LastUpdateTime: t0, LastTransitionTime: t0},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated",
				Message: `ReplicaSet "dev-h2" is progressing.`, LastUpdateTime: t0, LastTransitionTime: t0},
		},
	}
	if !reflect.DeepEqual(rolling, want) {
		t.Fatalf("status mid-roll:\n got %+v\nwant %+v", rolling, want)
	}

	d.Status = rolling
	done := deploymentStatus(d, "h2", []slotState{{0, "h2", true}, {1, "h2", true}}, t1)
	if done.UpdatedReplicas != 2 || done.ReadyReplicas != 2 || done.AvailableReplicas != 2 || done.UnavailableReplicas != 0 {
		t.Errorf("counts after the roll: %+v", done)
	}
	av, pr := done.Conditions[0], done.Conditions[1]
	if av.Status != corev1.ConditionTrue || av.LastTransitionTime != t1 {
		t.Errorf("Available after the roll: %+v", av)
	}
	// Progressing stayed True: its transition time stays, its update time moves.
	if pr.Reason != "NewReplicaSetAvailable" || pr.LastTransitionTime != t0 || pr.LastUpdateTime != t1 {
		t.Errorf("Progressing after the roll: %+v", pr)
	}

	// An unchanged world is an unchanged status, so the kubelet writes nothing.
	d.Status = done
	again := deploymentStatus(d, "h2", []slotState{{0, "h2", true}, {1, "h2", true}}, metav1.NewTime(t1.Add(time.Hour)))
	if !reflect.DeepEqual(again, done) {
		t.Errorf("status changed with nothing else:\n got %+v\nwant %+v", again, done)
	}

	// The default maxUnavailable (25% of 4 rounds down to 1) tolerates one unready replica.
	d4 := d.DeepCopy()
	d4.Spec.Replicas, d4.Spec.Strategy = ptr.To[int32](4), appsv1.DeploymentStrategy{}
	st := deploymentStatus(d4, "h", []slotState{{0, "h", true}, {1, "h", true}, {2, "h", true}, {3, "h", false}}, t0)
	if st.Conditions[0].Status != corev1.ConditionTrue {
		t.Errorf("3/4 ready with maxUnavailable 25%%: %+v", st.Conditions[0])
	}
}
