package kubenode

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const (
	// StorageClassName is the default StorageClass: a directory per volume under the state
	// directory, made by the node's provisioner (provisioner.go).
	StorageClassName = "local"
	// provisionerName is the StorageClass's provisioner, which the node's own provisioner
	// serves (the PV controller leaves such classes to an external provisioner).
	provisionerName = "kubenode.latch/local"
	// coreDNSName names CoreDNS's Deployment, ServiceAccount, ClusterRole and ConfigMap in
	// kube-system; its Service is kube-dns, the name pods and tools expect.
	coreDNSName = "coredns"
	// coreDNSUID is the CoreDNS image's user (hack/images).
	coreDNSUID = 65532
)

// corefile serves the cluster domain from the API and the reverse zones of the pod and
// Service ranges; names outside them go to the host's name servers when resolv.conf has any
// a pod can reach. health and ready are the probes' endpoints.
func corefile(forward bool) string {
	fwd := ""
	if forward {
		fwd = "    forward . /etc/resolv.conf\n"
	}
	return fmt.Sprintf(`.:53 {
    errors
    health :8080
    ready :8181
    kubernetes %s in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
%s    cache 30
    loadbalance
}
`, ClusterDomain, fwd)
}

// addons creates what the node serves besides the control plane: CoreDNS (ServiceAccount,
// RBAC, Corefile, a Deployment of one replica under the restricted security context, the
// kube-dns Service at DNSServiceIP) and the default StorageClass.
func addons(ctx context.Context, cs kubernetes.Interface, coreDNSImage string, forward bool) error {
	ns := metav1.NamespaceSystem
	labels := map[string]string{"k8s-app": "kube-dns"}
	create := func(what string, err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s: %w", what, err)
		}
		return nil
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta(coreDNSName)}, metav1.CreateOptions{})
	if err := create("CoreDNS's ServiceAccount", err); err != nil {
		return err
	}
	_, err = cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "system:" + coreDNSName, Labels: labels},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		},
	}, metav1.CreateOptions{})
	if err := create("CoreDNS's ClusterRole", err); err != nil {
		return err
	}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "system:" + coreDNSName, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:" + coreDNSName},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: coreDNSName, Namespace: ns}},
	}, metav1.CreateOptions{})
	if err := create("CoreDNS's ClusterRoleBinding", err); err != nil {
		return err
	}
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: meta(coreDNSName), Data: map[string]string{"Corefile": corefile(forward)},
	}, metav1.CreateOptions{})
	if err := create("CoreDNS's ConfigMap", err); err != nil {
		return err
	}
	dnsPorts := []corev1.ServicePort{
		{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
		{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
	}
	_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: ns, Labels: labels},
		Spec:       corev1.ServiceSpec{Selector: labels, ClusterIP: DNSServiceIP, Ports: dnsPorts},
	}, metav1.CreateOptions{})
	if err := create("the kube-dns Service", err); err != nil {
		return err
	}
	_, err = cs.AppsV1().Deployments(ns).Create(ctx, coreDNSDeployment(coreDNSImage, labels), metav1.CreateOptions{})
	if err := create("CoreDNS's Deployment", err); err != nil {
		return err
	}
	_, err = cs.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       provisionerName,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}, metav1.CreateOptions{})
	return create("the default StorageClass", err)
}

// coreDNSDeployment runs CoreDNS as the chart runs Latch: non-root, read-only root, no
// capabilities, RuntimeDefault seccomp. Port 53 as a non-root user comes from the pod's
// net.ipv4.ip_unprivileged_port_start sysctl (namespaced, so it changes the pod's network
// namespace only).
func coreDNSDeployment(image string, labels map[string]string) *appsv1.Deployment {
	probe := func(path string, port int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port)}},
			PeriodSeconds: 1, FailureThreshold: 3, TimeoutSeconds: 2,
		}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: coreDNSName, Namespace: metav1.NamespaceSystem, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: coreDNSName,
					PriorityClassName:  "system-cluster-critical",
					DNSPolicy:          corev1.DNSDefault,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](coreDNSUID),
						RunAsGroup:     ptr.To[int64](coreDNSUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						Sysctls:        []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
					},
					Containers: []corev1.Container{{
						Name:  "coredns",
						Image: image,
						Args:  []string{"-conf", "/etc/coredns/Corefile"},
						Ports: []corev1.ContainerPort{
							{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
							{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
						},
						VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/coredns", ReadOnly: true}},
						LivenessProbe:  probe("/health", 8080),
						ReadinessProbe: probe("/ready", 8181),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("50m"), corev1.ResourceMemory: mustQuantity("32Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: mustQuantity("170Mi")},
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Privileged:               ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: coreDNSName}},
					}}},
				},
			},
		},
	}
}
