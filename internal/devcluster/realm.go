package devcluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/internal/childproc"
)

// ServerConfig is the config the operator rendered for the realm's servers: the ConfigMap
// <realm>-config that their pods mount, parsed as a server parses it.
func (c *Cluster) ServerConfig(ctx context.Context) (*config.Config, error) {
	name := authv1.ServerConfigMapName(c.Realm.Name)
	cm, err := c.Kube.CoreV1().ConfigMaps(c.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	raw, ok := cm.Data[authv1.ServerConfigKey]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s/%s has no %s", c.Namespace, name, authv1.ServerConfigKey)
	}
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %w", c.Namespace, name, err)
	}
	return cfg, nil
}

// DeviceToken is the token the operator minted for a DeviceClient of type device in the
// samples' namespace, read from the Secret its status names, with the DeviceClient as read.
func (c *Cluster) DeviceToken(ctx context.Context, name string) (string, *authv1.DeviceClient, error) {
	dc := &authv1.DeviceClient{}
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: name}, dc); err != nil {
		return "", nil, err
	}
	if dc.Status.SecretName == "" {
		return "", nil, fmt.Errorf("DeviceClient %s/%s names no Secret yet", c.Namespace, name)
	}
	sec, err := c.Kube.CoreV1().Secrets(c.Namespace).Get(ctx, dc.Status.SecretName, metav1.GetOptions{})
	if err != nil {
		return "", nil, err
	}
	tok := string(sec.Data["token"])
	if tok == "" {
		return "", nil, fmt.Errorf("Secret %s/%s has no token", c.Namespace, dc.Status.SecretName)
	}
	return tok, dc, nil
}

// auditWait bounds AuditEvent: the line is written before the command that caused it
// returns, and the kubelet serves a container's log as it is written.
const auditWait = time.Minute

// AuditEvent waits, at most auditWait, for a server pod's log to hold an audit line of event
// (as "event":"<event>"), written since then, that also contains every one of with, and
// returns the line. The servers and `latch admin` run through `kubectl latch` write their
// audit to the pod's log. Pass a since taken before the action, so that an older line of the
// same event does not stand for it.
func (c *Cluster) AuditEvent(ctx context.Context, since time.Time, event string, with ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, auditWait)
	defer cancel()
	var found string
	want := append([]string{`"event":"` + event + `"`}, with...)
	// SinceTime travels at second precision (RFC 3339): a second earlier keeps the line safe.
	opts := &corev1.PodLogOptions{SinceTime: &metav1.Time{Time: since.Add(-time.Second)}}
	err := childproc.Poll(ctx, 300*time.Millisecond, func(ctx context.Context) error {
		pods, err := c.ServerPods(ctx)
		if err != nil {
			return err
		}
		errs := []error{errors.New("no server pod's log holds an audit line with " + strings.Join(want, " and "))}
		for _, p := range pods {
			b, err := c.Kube.CoreV1().Pods(p.Namespace).GetLogs(p.Name, opts).DoRaw(ctx)
			if err != nil {
				errs = append(errs, fmt.Errorf("pod %s's log: %w", p.Name, err))
				continue
			}
			for line := range strings.Lines(string(b)) {
				if containsAll(line, want) {
					found = strings.TrimSpace(line)
					return nil
				}
			}
		}
		return errors.Join(errs...)
	})
	return found, err
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
