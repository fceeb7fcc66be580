package devstack

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The objects the stack applies, in this order: the dev realm, then its clients.
//
//go:embed manifests/realm.yaml manifests/clients.yaml
var manifestFS embed.FS

var manifestFiles = []string{"manifests/realm.yaml", "manifests/clients.yaml"}

// Names of what the manifests declare.
const (
	DevNamespace    = "latch-dev"
	DevRealm        = "dev"
	DevDeviceClient = "dev-device"
	DevAppClient    = "dev-app"
)

// fieldManager owns what the stack applies.
const fieldManager = "latch-devstack"

// devManifests returns the objects of the embedded manifests with the variables filled in.
// A variable the manifests use and vars lacks is an error, never an empty string.
func devManifests(vars map[string]string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, name := range manifestFiles {
		raw, err := fs.ReadFile(manifestFS, name)
		if err != nil {
			return nil, err
		}
		objs, err := parseManifest(name, raw, vars)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

func parseManifest(name string, raw []byte, vars map[string]string) ([]*unstructured.Unstructured, error) {
	missing := map[string]bool{}
	expanded := os.Expand(string(raw), func(k string) string {
		v, ok := vars[k]
		if !ok {
			missing[k] = true
		}
		return v
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s uses undefined variables %s", name, strings.Join(sortedKeys(missing), ", "))
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(expanded)), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(m) == 0 {
			continue // an empty document
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("%s: a document lacks apiVersion, kind or metadata.name", name)
		}
		out = append(out, u)
	}
}

// applyAll applies objs in order with server-side apply.
func applyAll(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	for _, u := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return nil
}

// kindNames lists the objects of a kind, for messages.
func kindNames(objs []*unstructured.Unstructured, kind string) []string {
	var out []string
	for _, u := range objs {
		if u.GetKind() == kind {
			out = append(out, u.GetNamespace()+"/"+u.GetName())
		}
	}
	sort.Strings(out)
	return out
}
