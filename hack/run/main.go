package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchauth/latch/internal/devcluster"
)

// The dev realm and its clients (config/dev), applied in namespace.
const namespace = devcluster.DevNamespace

func main() {
	timeout := flag.Duration("timeout", 20*time.Minute, "how long the start may take, a cold image build included")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: make run  (or go run ./hack/run [flags])\n\n%s\n\n", strings.TrimSpace(usage))
		flag.PrintDefaults()
	}
	flag.Parse()
	os.Exit(run(*timeout, os.Stdout))
}

const usage = `
Brings Latch up on a real single-node Kubernetes cluster on this machine (root): the node,
the working tree's images, helm install of charts/latch, and the dev realm latch-dev/dev
(config/dev: every dialect, two replicas, managed Redis) with a device and an app client.
Prints the endpoints when ready; Ctrl-C stops the node and restores the host
(go run ./hack/node down undoes what a killed run left).`

func run(timeout time.Duration, out io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	begin := time.Now()
	startCtx, cancel := context.WithTimeout(ctx, timeout)
	c, err := devcluster.Start(startCtx, devcluster.Options{Namespace: namespace, Samples: devcluster.DevSamples, Progress: out})
	cancel()
	if err != nil {
		fmt.Fprintf(out, "run | FAILED: %v\n", err)
		return 1
	}
	took := time.Since(begin)
	if err := describe(ctx, c, took, out); err != nil {
		fmt.Fprintf(out, "run | cannot describe the cluster: %v\n", err)
	}
	<-ctx.Done()
	stop() // a second Ctrl-C kills at once; `go run ./hack/node down` then cleans up
	fmt.Fprintln(out, "run | stopping the node and restoring the host...")
	if err := c.Stop(); err != nil {
		fmt.Fprintf(out, "run | FAILED to stop cleanly: %v (go run ./hack/node down finishes it)\n", err)
		return 1
	}
	fmt.Fprintln(out, "run | stopped")
	return 0
}

// describe prints what runs and how to reach it.
func describe(ctx context.Context, c *devcluster.Cluster, took time.Duration, out io.Writer) error {
	svc, err := c.ServiceURL(ctx)
	if err != nil {
		return err
	}
	pods, err := c.PodURLs(ctx)
	if err != nil {
		return err
	}
	kc := c.Node.Kubeconfig()
	var b strings.Builder
	fmt.Fprintf(&b, "\nready in %.0fs: realm %s with every dialect on a real node, %d server pods, managed Redis\n\n", took.Seconds(), c.Realm, len(pods))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  service\t%s\t(the realm's Service, through kube-proxy)\n", svc)
	for _, p := range pods {
		fmt.Fprintf(tw, "  pod %s\t%s\n", p.Name, p.URL)
	}
	for _, d := range [][2]string{{"account", "/account"}, {"reactAuth", "/react-auth"}, {"deviseToken", "/auth"}, {"bearerToken", "/api"}, {"keyToken", "/"}} {
		fmt.Fprintf(tw, "  %s\t%s%s\n", d[0], svc, d[1])
	}
	_ = tw.Flush()
	sts, err := c.Kube.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, s := range sts.Items {
			fmt.Fprintf(&b, "  redis     StatefulSet %s/%s, %d/%d ready, AOF on its PVC\n", namespace, s.Name, s.Status.ReadyReplicas, *s.Spec.Replicas)
		}
	}
	fmt.Fprintf(&b, "  operator  pod %s/%s (ServiceAccount %s, image %s)\n", c.ReleaseNamespace, c.OperatorPod.Name, c.OperatorPod.Spec.ServiceAccountName, c.Image)
	// The node's kubectl (hack/tools.sh builds it with the node's components): the machine's,
	// if any, may be outside the API server's supported version skew.
	fmt.Fprintf(&b, "  kubectl   export KUBECONFIG=%s PATH=%s:$PATH; kubectl get realm,dc,pods -A\n", kc, filepath.Dir(c.Node.Kubectl()))
	fmt.Fprintf(&b, "\n  Try it: register through the Service, then read the session on each pod:\n")
	fmt.Fprintf(&b, "    curl -s -c /tmp/latch.cookies -H 'Content-Type: application/json' \\\n")
	fmt.Fprintf(&b, "      -d '{\"login\":\"ada@example.com\",\"password\":\"correct-horse-battery\",\"firstName\":\"Ada\",\"lastName\":\"Lovelace\"}' \\\n")
	fmt.Fprintf(&b, "      %s/account/register\n", svc)
	fmt.Fprintf(&b, "    COOKIE=\"latch_session=$(awk '$6 == \"latch_session\" {print $7}' /tmp/latch.cookies)\"\n")
	for _, p := range pods {
		fmt.Fprintf(&b, "    curl -s -H \"Cookie: $COOKIE\" %s/account/session\n", p.URL)
	}
	fmt.Fprintf(&b, "\n  The device token the operator minted for DeviceClient %s, and what a server says of it:\n", devcluster.DevDeviceClient)
	fmt.Fprintf(&b, "    TOKEN=$(kubectl --kubeconfig %s -n %s get secret %s-credentials -o jsonpath='{.data.token}' | base64 -d)\n", kc, namespace, devcluster.DevDeviceClient)
	fmt.Fprintf(&b, "    curl -s -H \"Authorization: Bearer $TOKEN\" %s/api/auth\n", svc)
	fmt.Fprintf(&b, "\n  Edit the realm and watch the pods roll: kubectl --kubeconfig %s -n %s edit realm %s\n", kc, namespace, devcluster.DevRealm)
	fmt.Fprintf(&b, "  Administer it: KUBECONFIG=%s bin/kubectl-latch -n %s status\n", kc, namespace)
	fmt.Fprintf(&b, "  Stop: Ctrl-C (stops the node and restores the host).\n\n")
	_, err = io.WriteString(out, b.String())
	return err
}
