package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/internal/devcluster"
)

// The dev manifests are what `make run` shows, so they must say what the README says they do:
// read strictly (a misspelt field is an error, not a silent default), one realm named dev
// with every dialect, two replicas, the default managed Redis and a cookie sent over plain
// HTTP, and a device and an app client of it. The node accepting them is hack/onnode's and
// devcluster's business; this is the cheap check that they did not drift.
func TestDevManifests(t *testing.T) {
	var realms []authv1.AuthRealm
	var clients []authv1.DeviceClient
	for _, m := range devcluster.DevSamples {
		b, err := os.ReadFile(filepath.Join("..", "..", m))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(b, []byte("\n---\n")) {
			var meta struct{ Kind string }
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: %v", m, err)
			}
			switch meta.Kind {
			case "AuthRealm":
				var realm authv1.AuthRealm
				if err := yaml.UnmarshalStrict(doc, &realm); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				realms = append(realms, realm)
			case "DeviceClient":
				var c authv1.DeviceClient
				if err := yaml.UnmarshalStrict(doc, &c); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				clients = append(clients, c)
			default:
				t.Errorf("%s: a %q; the dev manifests hold a realm and its clients only", m, meta.Kind)
			}
		}
	}
	if len(realms) != 1 || realms[0].Name != devcluster.DevRealm {
		t.Fatalf("realms %v, want one named %s", realms, devcluster.DevRealm)
	}
	s := realms[0].Spec
	p := s.Protocols
	if p.ReactAuth == nil || p.DeviseToken == nil || p.Account == nil || p.BearerToken == nil || p.KeyToken == nil {
		t.Errorf("the dev realm does not enable every dialect: %+v", p)
	}
	if s.Replicas == nil || *s.Replicas != 2 {
		t.Errorf("the dev realm runs %v replicas, want 2", s.Replicas)
	}
	if s.Redis != nil {
		t.Errorf("the dev realm names Redis %+v; make run shows the default managed Redis", s.Redis)
	}
	if c := s.Sessions.Cookie.Secure; c == nil || *c {
		t.Errorf("the dev realm's cookie is Secure (secure: %v): make run serves plain HTTP, so it would never come back", c != nil && *c)
	}
	types := map[authv1.ClientType]bool{}
	for _, c := range clients {
		if c.Spec.RealmRef.Name != devcluster.DevRealm {
			t.Errorf("client %s names realm %q, want %s", c.Name, c.Spec.RealmRef.Name, devcluster.DevRealm)
		}
		types[c.Spec.Type] = true
	}
	if !types[authv1.ClientDevice] || !types[authv1.ClientApp] {
		t.Errorf("client types %v, want a device and an app", types)
	}
}
