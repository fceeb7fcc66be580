package charttest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// checkMetricsAuth is issue 11's attack on the operator's metrics endpoint, run against the
// operator binary with the installed chart's arguments and RBAC: the metrics tell an attacker
// which namespaces hold realms, how often they reconcile, the Go runtime's state. A caller
// without credentials is refused (401), so is one whose ServiceAccount lacks the chart's
// <release>-metrics-reader role (403); a scraper bound to that role reads them.
func checkMetricsAuth(t *testing.T, k8s client.Client, metricsAddr string) {
	t.Helper()
	plain := &http.Client{Timeout: 2 * time.Second}
	if resp, err := plain.Get("http://" + metricsAddr + "/metrics"); err == nil {
		resp.Body.Close()
		// A TLS server answers a plain request 400 (client sent an HTTP request to an HTTPS
		// server); anything else is a plain HTTP endpoint.
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("the operator serves metrics over plain HTTP to anyone: %s", resp.Status)
		}
	}

	// The manager's certificate is self-signed, as kubebuilder's default: scrapers skip its
	// verification and authenticate with their token.
	httpsc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	scrape := func(token string) (int, string, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+metricsAddr+"/metrics", nil)
		if err != nil {
			return 0, "", err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := httpsc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}

	// The attacker without credentials.
	code, body, err := scrape("")
	if err != nil || code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token: %d %v, want 401\n%.300s", code, err, body)
	}
	// The attacker with any ServiceAccount's token: every pod has one.
	outsider := serviceAccountToken(t, k8s, "team-b", "curious")
	code, body, err = scrape(outsider)
	if err != nil || code != http.StatusForbidden {
		t.Errorf("GET /metrics with the token of a ServiceAccount without %s-metrics-reader: %d %v, want 403\n%.300s", releaseName, code, err, body)
	}
	if strings.Contains(body, "controller_runtime") {
		t.Errorf("the refusal carries metrics")
	}

	// The victim still scrapes: Prometheus's ServiceAccount, bound to the reader role.
	scraper := serviceAccountToken(t, k8s, "team-b", "prometheus")
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-reads-latch-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: releaseName + "-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "team-b", Name: "prometheus"}},
	}
	if err := k8s.Create(t.Context(), crb); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The manager caches a refusal for 30 s (filters.WithAuthenticationAndAuthorization): a
	// scrape that raced the binding is retried past that.
	eventually(t, 45*time.Second, func() error {
		code, body, err := scrape(scraper)
		if err != nil || code != http.StatusOK || !strings.Contains(body, "controller_runtime_reconcile_total") {
			return fmt.Errorf("GET /metrics as a ServiceAccount bound to %s-metrics-reader: %d %v, %d bytes without controller_runtime_reconcile_total", releaseName, code, err, len(body))
		}
		return nil
	})
}

// serviceAccountToken creates a ServiceAccount (unless it exists) and returns a token for it.
func serviceAccountToken(t *testing.T, k8s client.Client, ns, name string) string {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := k8s.Create(t.Context(), sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := k8s.SubResource("token").Create(t.Context(), sa, tr); err != nil {
		t.Fatalf("token for ServiceAccount %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// checkRedisPolicyNamesOperator checks the managed Redis's NetworkPolicy of a realm the
// installed operator reconciled admits the operator by the namespace the chart runs it in
// (the downward API's POD_NAMESPACE) and its label, in one peer.
func checkRedisPolicyNamesOperator(t *testing.T, k8s client.Client, realm types.NamespacedName) {
	t.Helper()
	eventually(t, time.Minute, func() error {
		np := &networkingv1.NetworkPolicy{}
		if err := k8s.Get(t.Context(), types.NamespacedName{Namespace: realm.Namespace, Name: realm.Name + "-redis"}, np); err != nil {
			return fmt.Errorf("realm %s: Redis NetworkPolicy: %w", realm, err)
		}
		for _, rule := range np.Spec.Ingress {
			for _, peer := range rule.From {
				if peer.NamespaceSelector != nil && peer.PodSelector != nil &&
					peer.NamespaceSelector.MatchLabels[corev1.LabelMetadataName] == releaseNamespace &&
					peer.PodSelector.MatchLabels["app.kubernetes.io/name"] == "latch-operator" {
					return nil
				}
			}
		}
		return fmt.Errorf("realm %s: the Redis NetworkPolicy admits no operator of namespace %s: %+v", realm, releaseNamespace, np.Spec.Ingress)
	})
}
