package controllers

import (
	"time"

	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/config"
)

// loadSample reads a sample realm as a user wrote it. Defaults are the API server's job, so
// these tests see unset fields as unset.
func loadSample(t *testing.T, file string) *authv1.AuthRealm {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(data), "\n---\n")
	r := &authv1.AuthRealm{}
	if err := yaml.UnmarshalStrict([]byte(docs[len(docs)-1]), r); err != nil {
		t.Fatal(err)
	}
	r.Namespace = "ns"
	r.UID = "uid-1"
	return r
}

// TestRenderConfigAcceptedByServer renders every sample and parses it with the server's own
// loader: what the operator writes is exactly what the server reads.
func TestRenderConfigAcceptedByServer(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "config", "samples", "auth_v1alpha1_authrealm_*.yaml"))
	if len(files) < 4 {
		t.Fatalf("found %d realm samples", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := loadSample(t, filepath.Base(f))
			rc := renderConfig(r)
			b, err := rc.Config.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := config.Parse(b)
			if err != nil {
				t.Fatalf("server refuses the rendered config: %v\n%s", err, b)
			}
			if parsed.Realm != "ns/"+r.Name {
				t.Errorf("realm = %q", parsed.Realm)
			}
		})
	}
}

func TestRenderConfigMapsSpec(t *testing.T) {
	r := loadSample(t, "auth_v1alpha1_authrealm_external_redis.yaml")
	rc := renderConfig(r)
	c := rc.Config
	if c.Redis.Mode != config.RedisSentinel || c.Redis.MasterName != "sessions" || len(c.Redis.Addresses) != 3 || c.Redis.KeyPrefix != "latch:external-redis:" {
		t.Errorf("redis = %+v", c.Redis)
	}
	if c.Redis.FenceReplicas() != 1 || c.Redis.Fence.Timeout.Duration != 300*time.Millisecond {
		t.Errorf("redis fence = %+v", c.Redis.Fence)
	}
	if c.Redis.Password.File != "/etc/latch/secrets/redis-password" || c.Redis.TLS == nil || c.Redis.TLS.ServerName != "redis.internal" {
		t.Errorf("redis secrets/tls = %+v %+v", c.Redis.Password, c.Redis.TLS)
	}
	if c.Protocols.KeyToken == nil || c.Protocols.KeyToken.Prefix != "/v1" || c.Protocols.DeviseToken != nil {
		t.Errorf("protocols = %+v", c.Protocols)
	}
	if !c.Clients.RequireRegistered {
		t.Error("requireRegisteredClients not rendered")
	}
	want := []secretFile{
		{Secret: "external-redis-keys", Key: keyTokenHashKey, File: keyTokenHashKey, Field: "generated keys"},
		{Secret: "sessions-redis", Key: "password", File: "redis-password", Field: "spec.redis.external.passwordSecretRef"},
	}
	if len(rc.Secrets) != len(want) {
		t.Fatalf("secrets = %+v", rc.Secrets)
	}
	for i := range want {
		if rc.Secrets[i] != want[i] {
			t.Errorf("secret %d = %+v, want %+v", i, rc.Secrets[i], want[i])
		}
	}

	// A disabled dialect is absent from the config; the hashing pool is left to the server.
	m := loadSample(t, "auth_v1alpha1_authrealm_minimal.yaml")
	m.Spec.Protocols.Account = &authv1.AccountSpec{Enabled: ptr.To(false)}
	mc := renderConfig(m).Config
	if mc.Protocols.Account != nil || mc.Protocols.DeviseToken == nil {
		t.Errorf("protocols = %+v", mc.Protocols)
	}
	if mc.Passwords.HashWorkers != 0 {
		t.Errorf("hashWorkers = %d, want 0 (each server sizes its own pool)", mc.Passwords.HashWorkers)
	}
	if mc.Redis.Addresses[0] != "minimal-redis.ns.svc:6379" {
		t.Errorf("managed redis address = %v", mc.Redis.Addresses)
	}

	// The brute-force limits and rate limits: what the spec sets, the server's defaults for
	// the rest (a realm written before a field existed renders the same defaults).
	m.Spec.BruteForce.MaxFailuresPerDevice = 7
	m.Spec.BruteForce.Delay = &metav1.Duration{Duration: 250 * time.Millisecond}
	m.Spec.RateLimits.Forgot = &authv1.RateLimitSpec{PerLogin: 4}
	m.Spec.Protocols.DeviseToken.CurrentPasswordOptional = true
	mc = renderConfig(m).Config
	if d := mc.Protocols.DeviseToken; !d.CurrentPasswordOptional || d.AllowPasswordChangeFor.Duration != 15*time.Minute {
		t.Errorf("deviseToken = %+v", d)
	}
	if b := mc.BruteForce; b.MaxFailuresPerDevice != 7 || b.Delay.Duration != 250*time.Millisecond ||
		b.MaxFailuresPerLogin != 20 || b.MaxFailuresPerLoginAndIP != 10 || b.DeviceCookieLifespan.Duration != 180*24*time.Hour {
		t.Errorf("bruteForce = %+v", b)
	}
	if rl := mc.RateLimits; rl.Forgot.PerLogin != 4 || rl.Forgot.PerIP != 20 || rl.Forgot.Window.Duration != time.Hour ||
		rl.Register.PerLogin != 5 || rl.Confirmation.PerIP != 20 {
		t.Errorf("rateLimits = %+v", rl)
	}
}

func TestBuildDeploymentHardened(t *testing.T) {
	r := loadSample(t, "auth_v1alpha1_authrealm_full.yaml")
	d := buildDeployment(r, "img:1", renderConfig(r).Secrets, "abc")
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	checks := map[string]bool{
		"non-root pod":               *pod.SecurityContext.RunAsNonRoot,
		"seccomp RuntimeDefault":     pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault,
		"no token automount":         !*pod.AutomountServiceAccountToken,
		"read-only root":             *c.SecurityContext.ReadOnlyRootFilesystem,
		"no privilege escalation":    !*c.SecurityContext.AllowPrivilegeEscalation,
		"all capabilities dropped":   len(c.SecurityContext.Capabilities.Drop) == 1 && c.SecurityContext.Capabilities.Drop[0] == "ALL",
		"liveness on /healthz":       c.LivenessProbe.HTTPGet.Path == "/healthz" && c.LivenessProbe.HTTPGet.Port == intstr.FromString("admin"),
		"readiness on /readyz":       c.ReadinessProbe.HTTPGet.Path == "/readyz",
		"a pause before SIGTERM":     c.Lifecycle.PreStop.Sleep.Seconds == preStopPauseSeconds && *pod.TerminationGracePeriodSeconds > preStopPauseSeconds+25,
		"config hash on template":    d.Spec.Template.Annotations[authv1.ConfigHashAnnotation] == "abc",
		"two replicas":               *d.Spec.Replicas == 2,
		"no unavailability in roll":  d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() == 0,
		"GOMEMLIMIT from the limit":  len(c.Env) > 0 && c.Env[0].Name == "GOMEMLIMIT",
		"spread over two topologies": len(pod.TopologySpreadConstraints) == 2,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("deployment: %s does not hold", name)
		}
	}
	// The selector is only the stable labels: a Deployment's selector cannot change.
	if len(d.Spec.Selector.MatchLabels) != 2 {
		t.Errorf("selector = %v", d.Spec.Selector.MatchLabels)
	}
	// Scheduling overrides replace the defaults.
	r.Spec.Scheduling.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 2, TopologyKey: "rack"}}
	d = buildDeployment(r, "img:1", nil, "abc")
	if ts := d.Spec.Template.Spec.TopologySpreadConstraints; len(ts) != 1 || ts[0].TopologyKey != "rack" {
		t.Errorf("override ignored: %+v", ts)
	}
}

func TestBuildOptionalChildren(t *testing.T) {
	r := loadSample(t, "auth_v1alpha1_authrealm_full.yaml")
	r.Spec.PodDisruptionBudget = &authv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromString("50%"))}
	pdb := buildPodDisruptionBudget(r)
	if pdb.Spec.MinAvailable.StrVal != "50%" || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("pdb = %+v", pdb.Spec)
	}
	r.Spec.PodDisruptionBudget = nil
	if pdb := buildPodDisruptionBudget(r); pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("default pdb = %+v", pdb.Spec)
	}
	np := buildNetworkPolicy(r)
	if len(np.Spec.Ingress) != 2 || np.Spec.Ingress[0].Ports[0].Port.IntValue() != authv1.ServerPort || np.Spec.Ingress[1].Ports[0].Port.IntValue() != authv1.AdminPort {
		t.Errorf("network policy = %+v", np.Spec.Ingress)
	}
	sm := buildServiceMonitor(r)
	if sm.GetKind() != "ServiceMonitor" || metav1.GetControllerOf(sm) == nil {
		t.Errorf("service monitor = %+v", sm)
	}
	sts := buildRedisStatefulSet(r)
	if sts.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "full-redis-data" {
		t.Errorf("redis volume = %+v", sts.Spec.Template.Spec.Volumes)
	}
	if !*sts.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem {
		t.Error("managed redis is not hardened")
	}
}

func TestConfigHashStable(t *testing.T) {
	a := map[string][]byte{"config": []byte("x"), "secret/a/b": []byte("1")}
	b := map[string][]byte{"secret/a/b": []byte("1"), "config": []byte("x")}
	if configHash(a) != configHash(b) {
		t.Error("hash depends on map order")
	}
	b["secret/a/b"] = []byte("2")
	if configHash(a) == configHash(b) {
		t.Error("hash ignores a Secret change")
	}
	// Length-prefixing keeps ("ab","c") and ("a","bc") apart.
	if configHash(map[string][]byte{"k": []byte("ab"), "l": []byte("c")}) == configHash(map[string][]byte{"k": []byte("a"), "l": []byte("bc")}) {
		t.Error("hash is ambiguous")
	}
}

// The realm's public URL (the links of deviseToken's mails): spec.publicURL, else the
// Ingress's, https when it has a TLS Secret; nothing without either.
func TestRenderConfigPublicURL(t *testing.T) {
	for _, c := range []struct {
		name    string
		spec    func(*authv1.AuthRealmSpec)
		want    string
		confirm config.ConfirmationMode
	}{
		{"none", func(*authv1.AuthRealmSpec) {}, "", config.ConfirmationNone},
		{"ingress", func(s *authv1.AuthRealmSpec) { s.Ingress = &authv1.IngressSpec{Host: "auth.example.com"} }, "http://auth.example.com", config.ConfirmationNone},
		{"ingress with TLS", func(s *authv1.AuthRealmSpec) {
			s.Ingress = &authv1.IngressSpec{Host: "auth.example.com", TLSSecretName: "tls"}
			s.Registration.EmailConfirmation = authv1.EmailConfirmationRequired
		}, "https://auth.example.com", config.ConfirmationRequired},
		{"spec wins", func(s *authv1.AuthRealmSpec) {
			s.Ingress = &authv1.IngressSpec{Host: "auth.example.com", TLSSecretName: "tls"}
			s.PublicURL = "https://login.example.com/latch"
			s.Registration.EmailConfirmation = authv1.EmailConfirmationOptional
		}, "https://login.example.com/latch", config.ConfirmationOptional},
	} {
		r := newRealm("ns", "r")
		c.spec(&r.Spec)
		got := renderConfig(r).Config
		if got.PublicURL != c.want {
			t.Errorf("%s: publicURL = %q, want %q", c.name, got.PublicURL, c.want)
		}
		if got.Registration.EmailConfirmation != c.confirm && !(c.confirm == config.ConfirmationNone && got.Registration.EmailConfirmation == "") {
			t.Errorf("%s: emailConfirmation = %q, want %q", c.name, got.Registration.EmailConfirmation, c.confirm)
		}
	}
}
