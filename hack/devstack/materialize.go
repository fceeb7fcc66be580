package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/latchauth/latch/authserver/config"
)

// What a kubelet does to start a container, done here for a local process. Everything in
// this file is pure: it takes the pod template and the objects it references, and returns
// files, paths, arguments and environment, so it is tested without a cluster.

// volumeSources holds the ConfigMaps and Secrets a pod references, by name, as read from the
// API server. A name absent from the map does not exist.
type volumeSources struct {
	ConfigMaps map[string]*corev1.ConfigMap
	Secrets    map[string]*corev1.Secret
}

// references lists the ConfigMaps and Secrets a container's volumes and environment read.
func references(spec *corev1.PodSpec, c *corev1.Container) (configMaps, secrets []string) {
	cms, secs := map[string]bool{}, map[string]bool{}
	for _, v := range spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			cms[v.ConfigMap.Name] = true
		case v.Secret != nil:
			secs[v.Secret.SecretName] = true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					cms[s.ConfigMap.Name] = true
				}
				if s.Secret != nil {
					secs[s.Secret.Name] = true
				}
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			cms[e.ValueFrom.ConfigMapKeyRef.Name] = true
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secs[e.ValueFrom.SecretKeyRef.Name] = true
		}
	}
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			cms[e.ConfigMapRef.Name] = true
		}
		if e.SecretRef != nil {
			secs[e.SecretRef.Name] = true
		}
	}
	return sortedKeys(cms), sortedKeys(secs)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// podFile is one file of a materialized volume.
type podFile struct {
	// Path is relative to the pod directory: volumes/<volume>/<path in the volume>.
	Path string
	Data []byte
	Mode os.FileMode
}

// mount maps a path inside the container to a directory relative to the pod directory.
type mount struct {
	ContainerPath string
	HostPath      string
}

// podLayout is what a container sees of its volumes, laid out under one pod directory.
type podLayout struct {
	// Dirs are created first (every mounted volume has one, empty or not).
	Dirs  []string
	Files []podFile
	// Mounts are sorted longest container path first, so the first match of a path is the
	// innermost mount, as in the container's mount table.
	Mounts []mount
}

// Kubernetes' default file modes for volume files.
const (
	defaultVolumeMode = 0o644
	volumesDir        = "volumes"
)

// layoutVolumes computes the files of the volumes a container mounts: a ConfigMap or Secret
// volume holds one file per key (or per listed item, at the item's path and mode); a
// projected volume holds the items of each of its sources; an emptyDir is an empty
// directory. A missing object or key fails unless the volume marks it optional, which is
// when a kubelet would keep the pod from starting.
func layoutVolumes(spec *corev1.PodSpec, c *corev1.Container, src volumeSources) (podLayout, error) {
	volumes := map[string]*corev1.Volume{}
	for i := range spec.Volumes {
		volumes[spec.Volumes[i].Name] = &spec.Volumes[i]
	}
	var out podLayout
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return podLayout{}, fmt.Errorf("volume mount %q names no volume of the pod", m.Name)
		}
		if m.SubPath != "" || m.SubPathExpr != "" {
			return podLayout{}, fmt.Errorf("volume mount %q: subPath is not supported by the devstack", m.Name)
		}
		if !path.IsAbs(m.MountPath) {
			return podLayout{}, fmt.Errorf("volume mount %q: mountPath %q is not absolute", m.Name, m.MountPath)
		}
		dir := path.Join(volumesDir, v.Name)
		out.Dirs = append(out.Dirs, dir)
		out.Mounts = append(out.Mounts, mount{ContainerPath: path.Clean(m.MountPath), HostPath: dir})
		files, err := volumeFiles(v, src)
		if err != nil {
			return podLayout{}, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		for _, f := range files {
			f.Path = path.Join(dir, f.Path)
			out.Files = append(out.Files, f)
		}
	}
	sort.SliceStable(out.Mounts, func(i, j int) bool { return len(out.Mounts[i].ContainerPath) > len(out.Mounts[j].ContainerPath) })
	return out, nil
}

func volumeFiles(v *corev1.Volume, src volumeSources) ([]podFile, error) {
	switch {
	case v.EmptyDir != nil:
		return nil, nil
	case v.ConfigMap != nil:
		s := v.ConfigMap
		return keyFiles("ConfigMap", s.Name, configMapData(src.ConfigMaps[s.Name]), s.Items, modeOr(s.DefaultMode), s.Optional)
	case v.Secret != nil:
		s := v.Secret
		return keyFiles("Secret", s.SecretName, secretData(src.Secrets[s.SecretName]), s.Items, modeOr(s.DefaultMode), s.Optional)
	case v.Projected != nil:
		def := modeOr(v.Projected.DefaultMode)
		var out []podFile
		for i, p := range v.Projected.Sources {
			var files []podFile
			var err error
			switch {
			case p.ConfigMap != nil:
				files, err = keyFiles("ConfigMap", p.ConfigMap.Name, configMapData(src.ConfigMaps[p.ConfigMap.Name]), p.ConfigMap.Items, def, p.ConfigMap.Optional)
			case p.Secret != nil:
				files, err = keyFiles("Secret", p.Secret.Name, secretData(src.Secrets[p.Secret.Name]), p.Secret.Items, def, p.Secret.Optional)
			default:
				err = fmt.Errorf("projected source %d: only configMap and secret sources are supported by the devstack", i)
			}
			if err != nil {
				return nil, err
			}
			out = append(out, files...)
		}
		return out, nil
	}
	return nil, errors.New("only configMap, secret, projected and emptyDir volumes are supported by the devstack")
}

func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	if cm == nil {
		return nil
	}
	out := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		out[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		out[k] = v
	}
	return out
}

func secretData(s *corev1.Secret) map[string][]byte {
	if s == nil {
		return nil
	}
	out := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		out[k] = v
	}
	for k, v := range s.StringData {
		out[k] = []byte(v)
	}
	return out
}

func modeOr(m *int32) os.FileMode {
	if m == nil {
		return defaultVolumeMode
	}
	return os.FileMode(*m) & os.ModePerm
}

// keyFiles turns the keys of one object into files: every key when items is empty, else
// each item's key at its path (and mode). data is nil when the object does not exist.
func keyFiles(kind, name string, data map[string][]byte, items []corev1.KeyToPath, mode os.FileMode, optional *bool) ([]podFile, error) {
	opt := optional != nil && *optional
	if data == nil {
		if opt {
			return nil, nil
		}
		return nil, fmt.Errorf("%s %q does not exist", kind, name)
	}
	if len(items) == 0 {
		keys := sortedKeys(data)
		out := make([]podFile, 0, len(keys))
		for _, k := range keys {
			if err := checkRelative(k); err != nil {
				return nil, fmt.Errorf("%s %q key %q: %w", kind, name, k, err)
			}
			out = append(out, podFile{Path: k, Data: data[k], Mode: mode})
		}
		return out, nil
	}
	out := make([]podFile, 0, len(items))
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if opt {
				continue
			}
			return nil, fmt.Errorf("%s %q has no key %q", kind, name, it.Key)
		}
		if err := checkRelative(it.Path); err != nil {
			return nil, fmt.Errorf("%s %q item %q: %w", kind, name, it.Key, err)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode) & os.ModePerm
		}
		out = append(out, podFile{Path: it.Path, Data: v, Mode: m})
	}
	return out, nil
}

// checkRelative refuses what a kubelet refuses as a volume file path: absolute paths and
// paths that climb out of the volume.
func checkRelative(p string) error {
	if p == "" || path.IsAbs(p) {
		return fmt.Errorf("path %q must be relative", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("path %q must not contain '..'", p)
		}
	}
	return nil
}

// hostPath maps a path inside the container to the host, through the innermost mount that
// holds it; ok is false for a path no mount holds.
func hostPath(mounts []mount, podDir, containerPath string) (string, bool) {
	if !path.IsAbs(containerPath) {
		return "", false
	}
	p := path.Clean(containerPath)
	for _, m := range mounts {
		if p == m.ContainerPath {
			return filepath.Join(podDir, filepath.FromSlash(m.HostPath)), true
		}
		if rest, ok := strings.CutPrefix(p, m.ContainerPath+"/"); ok {
			return filepath.Join(podDir, filepath.FromSlash(m.HostPath), filepath.FromSlash(rest)), true
		}
	}
	return "", false
}

// rewriteConfig is the server config a local process runs with: the container's config with
// every path inside a mount pointed at the materialized volume, and the listen addresses
// replaced by the replica's loopback ports. Paths are found by value (any string that is an
// absolute path inside a mount), not by field, so a Secret file the operator learns to mount
// tomorrow is rewritten without a change here. The result is validated by the server's own
// parser, so a config the server would refuse fails here, with the server's message.
func rewriteConfig(raw []byte, mounts []mount, podDir, public, admin string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("server config is not a JSON object: %w", err)
	}
	rewritten := rewritePaths(doc, mounts, podDir).(map[string]any)
	listen, _ := rewritten["listen"].(map[string]any)
	if listen == nil {
		listen = map[string]any{}
	}
	listen["public"], listen["admin"] = public, admin
	rewritten["listen"] = listen
	out, err := json.MarshalIndent(rewritten, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode server config: %w", err)
	}
	if _, err := config.Parse(out); err != nil {
		return nil, fmt.Errorf("rewritten server config: %w", err)
	}
	return out, nil
}

func rewritePaths(v any, mounts []mount, podDir string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = rewritePaths(e, mounts, podDir)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = rewritePaths(e, mounts, podDir)
		}
		return t
	case string:
		if p, ok := hostPath(mounts, podDir, t); ok {
			return p
		}
		return t
	}
	return v
}

// serverArgs are the process's arguments: the container's args with paths inside mounts
// rewritten, and the value of --config replaced by the rewritten copy. The container must not
// override the image's entrypoint, which is the latch binary the process runs.
func serverArgs(c *corev1.Container, mounts []mount, podDir, configCopy string) ([]string, error) {
	if len(c.Command) > 0 {
		return nil, fmt.Errorf("container %q sets command %q; the devstack runs the latch binary with the container's args only", c.Name, c.Command)
	}
	out := make([]string, 0, len(c.Args))
	sawConfig := false
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		switch {
		case a == "--config" || a == "-config":
			if i+1 >= len(c.Args) {
				return nil, fmt.Errorf("container %q: %s has no value", c.Name, a)
			}
			out = append(out, a, configCopy)
			i++
			sawConfig = true
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			name, _, _ := strings.Cut(a, "=")
			out = append(out, name+"="+configCopy)
			sawConfig = true
		default:
			out = append(out, rewriteArg(a, mounts, podDir))
		}
	}
	if !sawConfig {
		return nil, fmt.Errorf("container %q has no --config argument: the devstack cannot give the process its own ports", c.Name)
	}
	return out, nil
}

// rewriteArg rewrites a path argument or the value of a --flag=path argument.
func rewriteArg(a string, mounts []mount, podDir string) string {
	if p, ok := hostPath(mounts, podDir, a); ok {
		return p
	}
	if name, val, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "-") {
		if p, ok := hostPath(mounts, podDir, val); ok {
			return name + "=" + p
		}
	}
	return a
}
