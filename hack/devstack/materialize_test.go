package devstack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/latchauth/latch/authserver/config"
)

// serverPod is a pod as the operator renders a realm's (controllers/authrealm_objects.go
// buildDeployment): the config ConfigMap, one projected volume of the Secret keys the config
// names (from two Secrets, at mode 0440), an emptyDir /tmp, and the GOMEMLIMIT variable.
func serverPod() (*corev1.PodSpec, volumeSources) {
	spec := &corev1.PodSpec{
		ServiceAccountName: "dev",
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "dev-config"}}}},
			{Name: "secrets", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "dev-keys"},
					Items: []corev1.KeyToPath{{Key: "token-hash-key", Path: "token-hash-key", Mode: ptr.To[int32](0o440)}}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "dev-redis"},
					Items: []corev1.KeyToPath{{Key: "password", Path: "redis-password", Mode: ptr.To[int32](0o440)}}}},
			}}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
		Containers: []corev1.Container{{
			Name: "server",
			Args: []string{"server", "--config", "/etc/latch/config/config.json"},
			Ports: []corev1.ContainerPort{
				{Name: "http", ContainerPort: 8080},
				{Name: "admin", ContainerPort: 9090},
			},
			Env: []corev1.EnvVar{{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{
				ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1")}}}},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "config", MountPath: "/etc/latch/config", ReadOnly: true},
				{Name: "secrets", MountPath: "/etc/latch/secrets", ReadOnly: true},
				{Name: "tmp", MountPath: "/tmp"},
			},
		}},
	}
	src := volumeSources{
		ConfigMaps: map[string]*corev1.ConfigMap{"dev-config": {Data: map[string]string{"config.json": "{}"}}},
		Secrets: map[string]*corev1.Secret{
			"dev-keys":  {Data: map[string][]byte{"token-hash-key": []byte("k"), "redis-password": []byte("unused")}},
			"dev-redis": {Data: map[string][]byte{"password": []byte("p")}},
		},
	}
	return spec, src
}

func TestLayoutVolumesOfAServerPod(t *testing.T) {
	spec, src := serverPod()
	got, err := layoutVolumes(spec, &spec.Containers[0], src)
	if err != nil {
		t.Fatal(err)
	}
	want := podLayout{
		Dirs: []string{"volumes/config", "volumes/secrets", "volumes/tmp"},
		Files: []podFile{
			{Path: "volumes/config/config.json", Data: []byte("{}"), Mode: 0o644},
			{Path: "volumes/secrets/token-hash-key", Data: []byte("k"), Mode: 0o440},
			{Path: "volumes/secrets/redis-password", Data: []byte("p"), Mode: 0o440},
		},
		Mounts: []mount{
			{ContainerPath: "/etc/latch/secrets", HostPath: "volumes/secrets"},
			{ContainerPath: "/etc/latch/config", HostPath: "volumes/config"},
			{ContainerPath: "/tmp", HostPath: "volumes/tmp"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("layout:\n got %+v\nwant %+v", got, want)
	}
	cms, secs := references(spec, &spec.Containers[0])
	if !reflect.DeepEqual(cms, []string{"dev-config"}) || !reflect.DeepEqual(secs, []string{"dev-keys", "dev-redis"}) {
		t.Errorf("references = %v, %v", cms, secs)
	}
}

func TestLayoutVolumesKubeletRules(t *testing.T) {
	cmVolume := func(items []corev1.KeyToPath, optional *bool, mode *int32) corev1.Volume {
		return corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Items: items, Optional: optional, DefaultMode: mode}}}
	}
	cm := map[string]*corev1.ConfigMap{"cm": {Data: map[string]string{"b": "2", "a": "1"}, BinaryData: map[string][]byte{"c": {3}}}}
	tests := []struct {
		name    string
		volume  corev1.Volume
		mount   corev1.VolumeMount
		cms     map[string]*corev1.ConfigMap
		want    []podFile
		wantErr string
	}{
		{
			name:   "every key, sorted, text and binary, at the default mode",
			volume: cmVolume(nil, nil, ptr.To[int32](0o600)),
			cms:    cm,
			want:   []podFile{{"volumes/v/a", []byte("1"), 0o600}, {"volumes/v/b", []byte("2"), 0o600}, {"volumes/v/c", []byte{3}, 0o600}},
		},
		{
			name:   "items only, at their paths, with their modes",
			volume: cmVolume([]corev1.KeyToPath{{Key: "b", Path: "sub/dir/b.txt", Mode: ptr.To[int32](0o400)}, {Key: "a", Path: "a"}}, nil, nil),
			cms:    cm,
			want:   []podFile{{"volumes/v/sub/dir/b.txt", []byte("2"), 0o400}, {"volumes/v/a", []byte("1"), 0o644}},
		},
		{
			name:    "a missing object stops the pod",
			volume:  cmVolume(nil, nil, nil),
			wantErr: `ConfigMap "cm" does not exist`,
		},
		{
			name:   "a missing optional object is an empty volume",
			volume: cmVolume(nil, ptr.To(true), nil),
		},
		{
			name:    "a missing key stops the pod",
			volume:  cmVolume([]corev1.KeyToPath{{Key: "zz", Path: "zz"}}, nil, nil),
			cms:     cm,
			wantErr: `ConfigMap "cm" has no key "zz"`,
		},
		{
			name:   "a missing optional key is left out",
			volume: cmVolume([]corev1.KeyToPath{{Key: "zz", Path: "zz"}, {Key: "a", Path: "a"}}, ptr.To(true), nil),
			cms:    cm,
			want:   []podFile{{"volumes/v/a", []byte("1"), 0o644}},
		},
		{
			name:    "a path out of the volume is refused",
			volume:  cmVolume([]corev1.KeyToPath{{Key: "a", Path: "../../etc/passwd"}}, nil, nil),
			cms:     cm,
			wantErr: "must not contain '..'",
		},
		{
			name:    "an absolute path is refused",
			volume:  cmVolume([]corev1.KeyToPath{{Key: "a", Path: "/etc/passwd"}}, nil, nil),
			cms:     cm,
			wantErr: "must be relative",
		},
		{
			name:    "subPath mounts are refused",
			volume:  cmVolume(nil, nil, nil),
			cms:     cm,
			mount:   corev1.VolumeMount{Name: "v", MountPath: "/x", SubPath: "a"},
			wantErr: "subPath is not supported",
		},
		{
			name:    "other volume types are refused",
			volume:  corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
			wantErr: "only configMap, secret, projected and emptyDir",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mount
			if m.Name == "" {
				m = corev1.VolumeMount{Name: "v", MountPath: "/x"}
			}
			spec := &corev1.PodSpec{Volumes: []corev1.Volume{tc.volume}, Containers: []corev1.Container{{Name: "c", VolumeMounts: []corev1.VolumeMount{m}}}}
			got, err := layoutVolumes(spec, &spec.Containers[0], volumeSources{ConfigMaps: tc.cms})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Files, tc.want) {
				t.Errorf("files:\n got %v\nwant %v", got.Files, tc.want)
			}
			if !reflect.DeepEqual(got.Dirs, []string{"volumes/v"}) {
				t.Errorf("dirs = %v", got.Dirs)
			}
		})
	}
}

func TestHostPath(t *testing.T) {
	mounts := []mount{
		{ContainerPath: "/etc/latch/config/extra", HostPath: "volumes/extra"},
		{ContainerPath: "/etc/latch/config", HostPath: "volumes/config"},
		{ContainerPath: "/tmp", HostPath: "volumes/tmp"},
	}
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/etc/latch/config/config.json", "/pod/volumes/config/config.json", true},
		{"/etc/latch/config", "/pod/volumes/config", true},
		{"/etc/latch/config/extra/x", "/pod/volumes/extra/x", true}, // the innermost mount
		{"/etc/latch/config/../config/a", "/pod/volumes/config/a", true},
		{"/etc/latch/configuration", "", false}, // a prefix of a name is not a parent
		{"/etc/passwd", "", false},
		{"/", "", false},
		{"relative/etc/latch/config", "", false},
		{"/api", "", false},
	}
	for _, tc := range tests {
		got, ok := hostPath(mounts, "/pod", tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("hostPath(%q) = %q, %t; want %q, %t", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// operatorConfig is a config as the operator writes it: secrets as files under the
// container's mounts, the container's listen ports.
func operatorConfig(t *testing.T) []byte {
	t.Helper()
	c := &config.Config{
		Realm:        "latch-dev/dev",
		Listen:       config.Listen{Public: ":8080", Admin: ":9090"},
		TokenHashKey: config.Secret{File: "/etc/latch/secrets/token-hash-key"},
		Redis: &config.Redis{
			Mode: config.RedisStandalone, Addresses: []string{"127.0.0.1:6379"},
			Password: config.Secret{File: "/etc/latch/secrets/redis-password"},
			TLS:      &config.TLS{CAFile: "/etc/latch/secrets/redis-ca.pem"},
		},
		Protocols: config.Protocols{
			Account:  &config.Account{Prefix: "/account"},
			KeyToken: &config.KeyToken{Prefix: "/"},
		},
		Email: config.Email{TemplatesDir: "/etc/latch/templates", ResetURL: "http://localhost:3000/reset"},
	}
	c.Default()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRewriteConfig(t *testing.T) {
	mounts := []mount{
		{ContainerPath: "/etc/latch/templates", HostPath: "volumes/templates"},
		{ContainerPath: "/etc/latch/secrets", HostPath: "volumes/secrets"},
		{ContainerPath: "/etc/latch/config", HostPath: "volumes/config"},
	}
	out, err := rewriteConfig(operatorConfig(t), mounts, "/pods/dev-0", "127.0.0.1:8081", "127.0.0.1:9091")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(out)
	if err != nil {
		t.Fatalf("the server refuses the rewritten config: %v", err)
	}
	checks := []struct{ field, got, want string }{
		{"listen.public", c.Listen.Public, "127.0.0.1:8081"},
		{"listen.admin", c.Listen.Admin, "127.0.0.1:9091"},
		{"tokenHashKey.file", c.TokenHashKey.File, "/pods/dev-0/volumes/secrets/token-hash-key"},
		{"redis.password.file", c.Redis.Password.File, "/pods/dev-0/volumes/secrets/redis-password"},
		{"redis.tls.caFile", c.Redis.TLS.CAFile, "/pods/dev-0/volumes/secrets/redis-ca.pem"},
		{"email.templatesDir", c.Email.TemplatesDir, "/pods/dev-0/volumes/templates"},
		// Strings that are not paths in a mount stay as they are.
		{"protocols.keyToken.prefix", c.Protocols.KeyToken.Prefix, "/"},
		{"protocols.account.prefix", c.Protocols.Account.Prefix, "/account"},
		{"email.resetURL", c.Email.ResetURL, "http://localhost:3000/reset"},
		{"realm", c.Realm, "latch-dev/dev"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.field, ch.got, ch.want)
		}
	}
	// Nothing else changed: the rewrite of the rewrite's input back is the original.
	var orig, back map[string]any
	_ = json.Unmarshal(operatorConfig(t), &orig)
	_ = json.Unmarshal(out, &back)
	back["listen"].(map[string]any)["public"], back["listen"].(map[string]any)["admin"] = ":8080", ":9090"
	back["tokenHashKey"].(map[string]any)["file"] = "/etc/latch/secrets/token-hash-key"
	redis := back["redis"].(map[string]any)
	redis["password"].(map[string]any)["file"] = "/etc/latch/secrets/redis-password"
	redis["tls"].(map[string]any)["caFile"] = "/etc/latch/secrets/redis-ca.pem"
	back["email"].(map[string]any)["templatesDir"] = "/etc/latch/templates"
	if !reflect.DeepEqual(orig, back) {
		t.Errorf("the rewrite changed more than paths and listen addresses:\n%s", out)
	}
}

func TestRewriteConfigRefusesWhatTheServerRefuses(t *testing.T) {
	_, err := rewriteConfig(operatorConfig(t), nil, "/pod", "127.0.0.1:8081", "127.0.0.1:8081")
	if err == nil || !strings.Contains(err.Error(), "listen.admin") {
		t.Fatalf("error = %v, want the server's complaint about listen.admin", err)
	}
	if _, err := rewriteConfig([]byte("[1]"), nil, "/pod", "a:1", "a:2"); err == nil {
		t.Fatal("a config that is not an object was accepted")
	}
}

func TestServerArgs(t *testing.T) {
	mounts := []mount{{ContainerPath: "/etc/latch/config", HostPath: "volumes/config"}}
	tests := []struct {
		name    string
		c       corev1.Container
		want    []string
		wantErr string
	}{
		{
			name: "the operator's args",
			c:    corev1.Container{Args: []string{"server", "--config", "/etc/latch/config/config.json"}},
			want: []string{"server", "--config", "/local/config.json"},
		},
		{
			name: "--config=, and other path flags rewritten",
			c:    corev1.Container{Args: []string{"server", "--config=/etc/latch/config/config.json", "--addr-file=/etc/latch/config/addr", "/etc/latch/config/x"}},
			want: []string{"server", "--config=/local/config.json", "--addr-file=/pod/volumes/config/addr", "/pod/volumes/config/x"},
		},
		{
			name:    "no --config",
			c:       corev1.Container{Name: "c", Args: []string{"server"}},
			wantErr: "no --config",
		},
		{
			name:    "--config without a value",
			c:       corev1.Container{Name: "c", Args: []string{"server", "--config"}},
			wantErr: "has no value",
		},
		{
			name:    "a command of its own",
			c:       corev1.Container{Name: "c", Command: []string{"/bin/sh"}, Args: []string{"--config", "x"}},
			wantErr: "sets command",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := serverArgs(&tc.c, mounts, "/pod", "/local/config.json")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("args = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestContainerEnv(t *testing.T) {
	src := volumeSources{
		ConfigMaps: map[string]*corev1.ConfigMap{"cm": {Data: map[string]string{"B": "from-cm", "A": "a"}}},
		Secrets:    map[string]*corev1.Secret{"s": {Data: map[string][]byte{"k": []byte("secret")}}},
	}
	c := &corev1.Container{
		Name: "server",
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceCPU: resource.MustParse("1500m")},
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		EnvFrom: []corev1.EnvFromSource{
			{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}},
		},
		Env: []corev1.EnvVar{
			{Name: "PLAIN", Value: "v"},
			{Name: "CM_B", Value: "env wins over envFrom"},
			{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}},
			{Name: "OPTIONAL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "nope", Optional: ptr.To(true)}}},
			{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1")}}},
			{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "CPUS", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "NO_CPU_REQUEST", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu"}}},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		},
	}
	got, err := containerEnv(c, src, podIdentity{Name: "dev-abc-0", Namespace: "latch-dev"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CM_A=a", "CM_B=env wins over envFrom", "PLAIN=v", "SECRET=secret", "GOMEMLIMIT=268435456",
		"MEM_MI=64", "CPUS=2", "POD=dev-abc-0", "NS=latch-dev", "IP=127.0.0.1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env:\n got %q\nwant %q", got, want)
	}

	for _, bad := range []corev1.EnvVar{
		{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k"}}},
		{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['a']"}}},
		{Name: "X", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "memory"}}},
	} {
		if _, err := containerEnv(&corev1.Container{Env: []corev1.EnvVar{bad}}, src, podIdentity{}); err == nil {
			t.Errorf("env %+v was accepted", bad.ValueFrom)
		}
	}
}

// TestWriteLayout writes a layout and reads it back as the server would: file contents and
// exact modes, whatever the umask.
func TestWriteLayout(t *testing.T) {
	spec, src := serverPod()
	l, err := layoutVolumes(spec, &spec.Containers[0], src)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pod")
	if err := os.MkdirAll(filepath.Join(dir, "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeLayout(dir, l); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); !os.IsNotExist(err) {
		t.Errorf("a previous process's files were left: %v", err)
	}
	for _, f := range l.Files {
		p := filepath.Join(dir, f.Path)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.Mode {
			t.Errorf("%s: mode %v, want %v", f.Path, st.Mode().Perm(), f.Mode)
		}
		b, _ := os.ReadFile(p)
		if string(b) != string(f.Data) {
			t.Errorf("%s = %q, want %q", f.Path, b, f.Data)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "volumes", "tmp")); err != nil || !st.IsDir() {
		t.Errorf("the emptyDir is not a directory: %v", err)
	}
}

// The readiness probe of the operator's template names the admin port; it must reach the
// replica's admin port.
func TestReadinessProbeFollowsNamedPort(t *testing.T) {
	spec, _ := serverPod()
	c := &spec.Containers[0]
	c.ReadinessProbe = &corev1.Probe{FailureThreshold: 2, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("admin")}}}
	portMap, err := containerPorts(operatorConfig(t), replicaPorts{Public: 18081, Admin: 19091})
	if err != nil {
		t.Fatal(err)
	}
	url, failures := readinessProbe(c, portMap, replicaPorts{Public: 18081, Admin: 19091})
	if url != "http://127.0.0.1:19091/readyz" || failures != 2 {
		t.Errorf("probe = %s after %d failures", url, failures)
	}
	c.ReadinessProbe.HTTPGet.Port = intstr.FromString("http")
	if url, _ := readinessProbe(c, portMap, replicaPorts{Public: 18081, Admin: 19091}); url != "http://127.0.0.1:18081/readyz" {
		t.Errorf("probe on the public port = %s", url)
	}
}
