package devstack

import (
	"errors"
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// A container's environment, as a kubelet sets it. Pure, like materialize.go.

// podIdentity is what the downward API tells a container about its pod.
type podIdentity struct {
	Name, Namespace, ServiceAccount string
}

// containerEnv is the process's environment, as a kubelet would set it: envFrom first, then
// env in order (a later name wins). Values of the downward API that name the node or the pod
// IP are the loopback host's. $(VAR) references in values are not expanded.
func containerEnv(c *corev1.Container, src volumeSources, pod podIdentity) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, ef := range c.EnvFrom {
		var data map[string][]byte
		var kind, name string
		var optional *bool
		switch {
		case ef.ConfigMapRef != nil:
			kind, name, optional = "ConfigMap", ef.ConfigMapRef.Name, ef.ConfigMapRef.Optional
			data = configMapData(src.ConfigMaps[name])
		case ef.SecretRef != nil:
			kind, name, optional = "Secret", ef.SecretRef.Name, ef.SecretRef.Optional
			data = secretData(src.Secrets[name])
		default:
			continue
		}
		if data == nil {
			if optional != nil && *optional {
				continue
			}
			return nil, fmt.Errorf("envFrom: %s %q does not exist", kind, name)
		}
		for _, k := range sortedKeys(data) {
			set(ef.Prefix+k, string(data[k]))
		}
	}
	for _, e := range c.Env {
		v, ok, err := envValue(c, e, src, pod)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

// envValue resolves one variable; ok is false for an optional reference that is absent, or
// a resource field with no value set, which a kubelet would fill from the node: a local
// process has no such bound.
func envValue(c *corev1.Container, e corev1.EnvVar, src volumeSources, pod podIdentity) (string, bool, error) {
	f := e.ValueFrom
	if f == nil {
		return e.Value, true, nil
	}
	switch {
	case f.ConfigMapKeyRef != nil:
		r := f.ConfigMapKeyRef
		return keyValue("ConfigMap", r.Name, r.Key, configMapData(src.ConfigMaps[r.Name]), r.Optional)
	case f.SecretKeyRef != nil:
		r := f.SecretKeyRef
		return keyValue("Secret", r.Name, r.Key, secretData(src.Secrets[r.Name]), r.Optional)
	case f.FieldRef != nil:
		switch f.FieldRef.FieldPath {
		case "metadata.name":
			return pod.Name, true, nil
		case "metadata.namespace":
			return pod.Namespace, true, nil
		case "spec.serviceAccountName":
			return pod.ServiceAccount, true, nil
		case "spec.nodeName":
			return "localhost", true, nil
		case "status.podIP", "status.hostIP":
			return "127.0.0.1", true, nil
		}
		return "", false, fmt.Errorf("fieldRef %q is not supported by the devstack", f.FieldRef.FieldPath)
	case f.ResourceFieldRef != nil:
		return resourceValue(c, f.ResourceFieldRef)
	}
	return "", false, errors.New("unsupported valueFrom")
}

func keyValue(kind, name, key string, data map[string][]byte, optional *bool) (string, bool, error) {
	opt := optional != nil && *optional
	if data == nil {
		if opt {
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s %q does not exist", kind, name)
	}
	v, ok := data[key]
	if !ok {
		if opt {
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s %q has no key %q", kind, name, key)
	}
	return string(v), true, nil
}

// resourceValue is a resourceFieldRef: the container's request or limit divided by the
// divisor, rounded up, as the downward API computes it.
func resourceValue(c *corev1.Container, r *corev1.ResourceFieldSelector) (string, bool, error) {
	if r.ContainerName != "" && r.ContainerName != c.Name {
		return "", false, fmt.Errorf("resourceFieldRef of another container (%q) is not supported by the devstack", r.ContainerName)
	}
	kind, name, ok := strings.Cut(r.Resource, ".")
	if !ok {
		return "", false, fmt.Errorf("resourceFieldRef %q is not <limits|requests>.<resource>", r.Resource)
	}
	var list corev1.ResourceList
	switch kind {
	case "limits":
		list = c.Resources.Limits
	case "requests":
		list = c.Resources.Requests
	default:
		return "", false, fmt.Errorf("resourceFieldRef %q is not <limits|requests>.<resource>", r.Resource)
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		return "", false, nil
	}
	div := r.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	v := math.Ceil(float64(q.MilliValue()) / float64(div.MilliValue()))
	return fmt.Sprintf("%d", int64(v)), true, nil
}
