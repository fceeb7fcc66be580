package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/internal/kubectllatch"
)

// kubectl latch finds a realm's server pods and the config their server reads without
// importing the operator (a plugin binary has no use for the reconcilers); it repeats what
// the operator does, and this test fails when the two part: the pods it selects, the
// container and config latch admin runs with, the annotation of the current config, and no
// shared process namespace (latch must stay PID 1, whose stdout takes the audit events).
func TestKubectlLatchFindsTheOperatorsServerPods(t *testing.T) {
	r := newRealm("team", "dev")
	d := buildDeployment(r, "example.test/latch:v1", renderConfig(r).Secrets, "hash-1")
	pod := &corev1.Pod{ObjectMeta: d.Spec.Template.ObjectMeta, Spec: d.Spec.Template.Spec}
	pod.Name, pod.Namespace = "dev-5d8c-abcde", r.Namespace

	sel := kubectllatch.ServerSelector(r.Name)
	if got, want := sel.String(), labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String(); got != want {
		t.Errorf("plugin selector %q, the Deployment's %q", got, want)
	}
	st := computeRealmStatus(realmObservation{Realm: r, Now: metav1.Now()})
	if st.Selector != sel.String() {
		t.Errorf("plugin selector %q, status.selector %q", sel, st.Selector)
	}
	if !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("plugin selector %q does not select the pod template's labels %v", sel, pod.Labels)
	}
	// A realm whose pod template adds labels still has its pods selected, and only its own.
	other := newRealm("team", "dev-2")
	if sel.Matches(labels.Set(buildDeployment(other, "x", nil, "h").Spec.Template.Labels)) {
		t.Errorf("plugin selector %q selects realm dev-2's pods", sel)
	}

	got, err := kubectllatch.ServerTarget(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := kubectllatch.Target{Namespace: "team", Pod: pod.Name, Container: "server", Binary: "/latch", ConfigPath: configDir + "/" + authv1.ServerConfigKey}
	if got != want {
		t.Errorf("plugin target %+v, want %+v", got, want)
	}
	if pod.Annotations[authv1.ConfigHashAnnotation] != "hash-1" {
		t.Errorf("the pod template has no %s annotation of its config hash: %v", authv1.ConfigHashAnnotation, pod.Annotations)
	}
	if p := pod.Spec.ShareProcessNamespace; p != nil && *p {
		t.Error("the server pods share a process namespace: PID 1 is no longer latch server")
	}
}
