package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hack/REDIS_IMAGE is the image `make images` builds and tags; the AuthRealm's default (the
// kubebuilder marker, so the CRD and the chart's copy of it) and the operator's fallback for a
// realm whose Redis spec is absent must name the same one, or a default realm would ask the
// node for an image nobody built.
func TestRedisImageIsTheDefault(t *testing.T) {
	repo := filepath.Join("..", "..")
	ref, err := readRef(repo, "hack/REDIS_IMAGE")
	if err != nil {
		t.Fatal(err)
	}
	q := regexp.QuoteMeta(ref)
	for file, re := range map[string]string{
		"api/v1alpha1/authrealm_types.go":                            `\+kubebuilder:default="` + q + `"\n\s*Image string`,
		"controllers/names.go":                                       `defaultRedisImg\s*=\s*"` + q + `"`,
		"config/crd/bases/auth.latch.dev_authrealms.yaml":            `default: ` + q + `\n`,
		"charts/latch/templates/crds/auth.latch.dev_authrealms.yaml": `default: ` + q + `\n`,
	} {
		b, err := os.ReadFile(filepath.Join(repo, file))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(re).Match(b) {
			t.Errorf("%s does not default the managed Redis image to hack/REDIS_IMAGE %s", file, ref)
		}
	}
}

// The Dockerfile builds the latch image for people with Docker: it must stay the image
// prepareLatch makes (same build flags, user and entrypoint), or the two would drift.
func TestDockerfileMatchesLatchImage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ENV CGO_ENABLED=0", `-trimpath -ldflags="-s -w"`, "FROM scratch",
		"/etc/ssl/certs/ca-certificates.crt", "COPY --from=builder /out/latch /latch",
		"USER 65532:65532", `ENTRYPOINT ["/latch"]`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the Dockerfile no longer has %q: hack/images builds the latch image that way", want)
		}
	}
	if latchUID != 65532 {
		t.Errorf("latchUID = %d, the Dockerfile's USER is 65532", latchUID)
	}
}
