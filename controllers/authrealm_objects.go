package controllers

import (
	"fmt"
	"maps"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// The builders below are pure: given a realm (and what was read for it) they return the
// desired object, with a controller owner reference so deleting the realm garbage-collects
// it. They never touch a client, so they are table-tested directly.

func objectMeta(r *authv1.AuthRealm, name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       r.Namespace,
		Labels:          commonLabels(r, component),
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(r, authv1.GroupVersion.WithKind("AuthRealm"))},
	}
}

// buildConfigMap holds the rendered server config.
func buildConfigMap(r *authv1.AuthRealm, configJSON []byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(r, configMapName(r), "config"),
		Data:       map[string]string{configFile: string(configJSON)},
	}
}

// buildKeysSecret holds the realm's generated keys. It is created once and never
// overwritten: replacing the token hash key would end every session of the realm.
func buildKeysSecret(r *authv1.AuthRealm, tokenHashKey, redisPassword string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(r, keysSecretName(r), "keys"),
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			keyTokenHashKey:  []byte(tokenHashKey),
			keyRedisPassword: []byte(redisPassword),
		},
	}
}

func buildServiceAccount(r *authv1.AuthRealm) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: objectMeta(r, serviceAccountName(r), "auth-server"),
		// The servers never call the Kubernetes API.
		AutomountServiceAccountToken: ptr.To(false),
	}
}

func buildService(r *authv1.AuthRealm) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(r, serviceName(r), "auth-server"),
		Spec: corev1.ServiceSpec{
			Selector: selectorLabels(r),
			Ports: []corev1.ServicePort{
				{Name: "http", Port: publicPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
				{Name: "admin", Port: adminPort, TargetPort: intstr.FromString("admin"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// desiredReplicas is spec.replicas, or 1 when unset.
func desiredReplicas(r *authv1.AuthRealm) int32 {
	if r.Spec.Replicas == nil {
		return 1
	}
	return *r.Spec.Replicas
}

func defaultServerResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
}

func restrictedContainerSecurity(uid int64) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(uid),
		RunAsGroup:               ptr.To(uid),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Privileged:               ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func restrictedPodSecurity(uid int64) *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To(uid),
		RunAsGroup:     ptr.To(uid),
		FSGroup:        ptr.To(uid),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// secretProjections mounts every Secret key the config names as one projected volume, one
// file each. Sources are sorted so the pod template is stable.
func secretProjections(files []secretFile) []corev1.VolumeProjection {
	bySecret := map[string][]corev1.KeyToPath{}
	for _, f := range files {
		bySecret[f.Secret] = append(bySecret[f.Secret], corev1.KeyToPath{Key: f.Key, Path: f.File, Mode: ptr.To[int32](0o440)})
	}
	names := make([]string, 0, len(bySecret))
	for n := range bySecret {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]corev1.VolumeProjection, 0, len(names))
	for _, n := range names {
		items := bySecret[n]
		sort.Slice(items, func(i, j int) bool { return items[i].Path < items[j].Path })
		out = append(out, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: n},
			Items:                items,
		}})
	}
	return out
}

// buildDeployment is the auth-server Deployment. configHash is the hash of every input of
// the pods; a change of it, and only that, rolls them.
func buildDeployment(r *authv1.AuthRealm, image string, files []secretFile, configHash string) *appsv1.Deployment {
	s := r.Spec
	podLabels := maps.Clone(s.PodTemplate.Labels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	maps.Copy(podLabels, commonLabels(r, "auth-server"))
	podAnnotations := maps.Clone(s.PodTemplate.Annotations)
	if podAnnotations == nil {
		podAnnotations = map[string]string{}
	}
	podAnnotations[configHashAnnotation] = configHash

	resources := defaultServerResources()
	if s.Resources != nil {
		resources = *s.Resources
	}
	env := []corev1.EnvVar{}
	if _, ok := resources.Limits[corev1.ResourceMemory]; ok {
		// Let the Go runtime collect before the kernel kills the pod.
		env = append(env, corev1.EnvVar{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{
			ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1")},
		}})
	}
	env = append(env, s.PodTemplate.Env...)

	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(r)},
		}}},
		{Name: "secrets", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: secretProjections(files),
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("16Mi"))}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: configDir, ReadOnly: true},
		{Name: "secrets", MountPath: secretsDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	if n := s.Email.TemplatesConfigMapName; n != "" {
		volumes = append(volumes, corev1.Volume{Name: "templates", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: n},
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "templates", MountPath: templatesDir, ReadOnly: true})
	}

	spread := s.Scheduling.TopologySpreadConstraints
	if len(spread) == 0 {
		sel := &metav1.LabelSelector{MatchLabels: selectorLabels(r)}
		spread = []corev1.TopologySpreadConstraint{
			{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: sel},
			{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: sel},
		}
	}
	probe := func(path string, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("admin")}},
			PeriodSeconds:    5,
			TimeoutSeconds:   2,
			FailureThreshold: failures,
		}
	}
	pullPolicy := s.ImagePullPolicy
	if pullPolicy == "" {
		pullPolicy = corev1.PullIfNotPresent
	}

	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(r, deploymentName(r), "auth-server"),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(desiredReplicas(r)),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(r)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				// Never below the desired count during a rollout: sessions live in Redis, so
				// a surge pod takes over without ending any.
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: podAnnotations},
				Spec: corev1.PodSpec{
					ServiceAccountName:            serviceAccountName(r),
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					SecurityContext:               restrictedPodSecurity(defaultUID),
					TerminationGracePeriodSeconds: ptr.To[int64](30),
					ImagePullSecrets:              s.ImagePullSecrets,
					NodeSelector:                  s.Scheduling.NodeSelector,
					Tolerations:                   s.Scheduling.Tolerations,
					Affinity:                      s.Scheduling.Affinity,
					PriorityClassName:             s.Scheduling.PriorityClassName,
					TopologySpreadConstraints:     spread,
					Volumes:                       volumes,
					Containers: []corev1.Container{{
						Name:            "server",
						Image:           image,
						ImagePullPolicy: pullPolicy,
						Args:            []string{"server", "--config", configDir + "/" + configFile},
						Ports: []corev1.ContainerPort{
							{Name: "http", ContainerPort: publicPort, Protocol: corev1.ProtocolTCP},
							{Name: "admin", ContainerPort: adminPort, Protocol: corev1.ProtocolTCP},
						},
						Env:             env,
						Resources:       resources,
						VolumeMounts:    mounts,
						SecurityContext: restrictedContainerSecurity(defaultUID),
						StartupProbe:    probe("/healthz", 30),
						LivenessProbe:   probe("/healthz", 3),
						ReadinessProbe:  probe("/readyz", 2),
					}},
				},
			},
		},
	}
}

// buildPodDisruptionBudget keeps all but one server up during voluntary disruptions; it is
// only wanted when there is more than one replica, or a single pod could never be drained.
func buildPodDisruptionBudget(r *authv1.AuthRealm) *policyv1.PodDisruptionBudget {
	spec := policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(r)}}
	switch o := r.Spec.PodDisruptionBudget; {
	case o != nil && o.MinAvailable != nil:
		spec.MinAvailable = o.MinAvailable
	case o != nil && o.MaxUnavailable != nil:
		spec.MaxUnavailable = o.MaxUnavailable
	default:
		spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(r, deploymentName(r), "auth-server"),
		Spec:       spec,
	}
}

// buildRedisService is the managed Redis's stable address.
func buildRedisService(r *authv1.AuthRealm) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(r, redisName(r), "redis"),
		Spec: corev1.ServiceSpec{
			Selector: redisSelectorLabels(r),
			Ports:    []corev1.ServicePort{{Name: "redis", Port: redisPort, TargetPort: intstr.FromString("redis"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// buildRedisStatefulSet is the managed Redis: one pod, append-only file on a PVC, password
// from the generated keys Secret.
func buildRedisStatefulSet(r *authv1.AuthRealm) *appsv1.StatefulSet {
	m := r.Spec.ManagedRedis()
	image := m.Image
	if image == "" {
		image = defaultRedisImg
	}
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
	if m.Resources != nil {
		resources = *m.Resources
	}
	labels := commonLabels(r, "redis")
	labels[labelName] = "latch-redis"
	meta := objectMeta(r, redisName(r), "redis")
	meta.Labels = labels
	exec := func(cmd string) corev1.ProbeHandler {
		return corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", cmd}}}
	}
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: meta,
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](1),
			ServiceName: redisName(r),
			Selector:    &metav1.LabelSelector{MatchLabels: redisSelectorLabels(r)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext:              restrictedPodSecurity(redisUID),
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: redisName(r) + "-data"},
					}}},
					Containers: []corev1.Container{{
						Name:  "redis",
						Image: image,
						Args: []string{
							"redis-server", "--appendonly", "yes", "--appendfsync", "everysec",
							"--dir", "/data", "--requirepass", "$(REDIS_PASSWORD)", "--protected-mode", "no",
						},
						Env: []corev1.EnvVar{{Name: "REDIS_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: keysSecretName(r)}, Key: keyRedisPassword,
						}}}},
						Ports:           []corev1.ContainerPort{{Name: "redis", ContainerPort: redisPort, Protocol: corev1.ProtocolTCP}},
						Resources:       resources,
						VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
						SecurityContext: restrictedContainerSecurity(redisUID),
						ReadinessProbe:  &corev1.Probe{ProbeHandler: exec(`redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping | grep -q PONG`), PeriodSeconds: 5},
						LivenessProbe:   &corev1.Probe{ProbeHandler: exec(`redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping`), PeriodSeconds: 10, FailureThreshold: 6},
					}},
				},
			},
		},
	}
}

// buildNetworkPolicy admits only the servers' two ports (from the listed peers), and, for a
// managed Redis, only the realm's servers to Redis.
func buildNetworkPolicy(r *authv1.AuthRealm) *networkingv1.NetworkPolicy {
	np := r.Spec.NetworkPolicy
	tcp := corev1.ProtocolTCP
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(r, deploymentName(r), "auth-server"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selectorLabels(r)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: np.From, Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr.To(intstr.FromInt32(publicPort))}}},
				{From: np.MetricsFrom, Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr.To(intstr.FromInt32(adminPort))}}},
			},
		},
	}
}

// buildRedisNetworkPolicy lets only the realm's servers, and the operator (which writes
// client registrations), reach the managed Redis.
func buildRedisNetworkPolicy(r *authv1.AuthRealm) *networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(r, redisName(r), "redis"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: redisSelectorLabels(r)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{MatchLabels: selectorLabels(r)}},
					{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelName: "latch-operator"}}},
				},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr.To(intstr.FromInt32(redisPort))}},
			}},
		},
	}
}

// buildIngress exposes the public port at the given host.
func buildIngress(r *authv1.AuthRealm) *networkingv1.Ingress {
	in := r.Spec.Ingress
	meta := objectMeta(r, deploymentName(r), "auth-server")
	meta.Annotations = in.Annotations
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: meta,
		Spec: networkingv1.IngressSpec{
			IngressClassName: in.ClassName,
			Rules: []networkingv1.IngressRule{{
				Host: in.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: serviceName(r), Port: networkingv1.ServiceBackendPort{Name: "http"},
						}},
					}},
				}},
			}},
		},
	}
	if in.TLSSecretName != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{in.Host}, SecretName: in.TLSSecretName}}
	}
	return ing
}

// serviceMonitorGVK is the Prometheus Operator's ServiceMonitor. It is built unstructured so
// the operator does not depend on the Prometheus Operator's Go module.
var serviceMonitorGVK = struct{ Group, Version, Kind string }{"monitoring.coreos.com", "v1", "ServiceMonitor"}

func buildServiceMonitor(r *authv1.AuthRealm) *unstructured.Unstructured {
	sm := r.Spec.ServiceMonitor
	labels := commonLabels(r, "auth-server")
	maps.Copy(labels, sm.Labels)
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(serviceMonitorGVK.Group + "/" + serviceMonitorGVK.Version)
	u.SetKind(serviceMonitorGVK.Kind)
	u.SetName(deploymentName(r))
	u.SetNamespace(r.Namespace)
	u.SetLabels(labels)
	u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(r, authv1.GroupVersion.WithKind("AuthRealm"))})
	sel := map[string]any{}
	for k, v := range selectorLabels(r) {
		sel[k] = v
	}
	interval := sm.Interval
	if interval == "" {
		interval = "30s"
	}
	u.Object["spec"] = map[string]any{
		"selector":  map[string]any{"matchLabels": sel},
		"endpoints": []any{map[string]any{"port": "admin", "path": "/metrics", "interval": interval}},
	}
	return u
}

// describe names an object for messages.
func describe(kind, namespace, name string) string {
	return fmt.Sprintf("%s %s/%s", kind, namespace, name)
}

// buildRedisDataClaim is the managed Redis's volume. It is a standalone claim owned by the
// realm, rather than a StatefulSet claim template, so deleting the realm garbage-collects it
// and nothing is left behind.
func buildRedisDataClaim(r *authv1.AuthRealm) *corev1.PersistentVolumeClaim {
	m := r.Spec.ManagedRedis()
	size := resource.MustParse("1Gi")
	if m.StorageSize != nil {
		size = *m.StorageSize
	}
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: objectMeta(r, redisName(r)+"-data", "redis"),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: m.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}
