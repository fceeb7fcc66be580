package devstack_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/latchauth/latch/hack/devstack"
)

// An end-to-end test starts the stack once (from TestMain, say), with its own page's origin
// allowed, and drives the replicas' URLs.
func ExampleStart() {
	root, err := devstack.FindRoot()
	if err != nil {
		log.Fatal(err)
	}
	tools, err := devstack.FindTools(root, os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	s, err := devstack.Start(context.Background(), devstack.Options{
		Root:        root,
		LatchBinary: root + "/bin/latch",
		Tools:       tools,
		Log:         os.Stderr,
		// Free ports everywhere, so tests run beside a `make run`.
		PublicPort: 0, AdminPort: 0,
		Customize: func(u *unstructured.Unstructured) error {
			if u.GetKind() != "AuthRealm" {
				return nil
			}
			origins, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "allowedOrigins")
			return unstructured.SetNestedStringSlice(u.Object, slices.Concat(origins, []string{"http://127.0.0.1:41234"}), "spec", "allowedOrigins")
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = s.Stop() }()
	for _, r := range s.Replicas() {
		fmt.Println(r.Index, r.PublicURL)
	}
	token, err := s.DeviceToken(context.Background(), devstack.DevNamespace, devstack.DevDeviceClient)
	if err != nil {
		log.Fatal(err)
	}
	_ = token // Authorization: Bearer <token> on the bearerToken dialect
}
