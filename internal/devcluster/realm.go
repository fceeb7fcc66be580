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
	name := c.Realm.Name + "-config"
	cm, err := c.Kube.CoreV1().ConfigMaps(c.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	raw, ok := cm.Data["config.json"]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s/%s has no config.json", c.Namespace, name)
	}
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %w", c.Namespace, name, err)
	}
	return cfg, nil
}

// DeviceToken is the token the operator minted for a DeviceClient of type device in the
// samples' namespace, read from the Secret its status names.
func (c *Cluster) DeviceToken(ctx context.Context, name string) (string, error) {
	dc := &authv1.DeviceClient{}
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: name}, dc); err != nil {
		return "", err
	}
	if dc.Status.SecretName == "" {
		return "", fmt.Errorf("DeviceClient %s/%s names no Secret yet", c.Namespace, name)
	}
	sec, err := c.Kube.CoreV1().Secrets(c.Namespace).Get(ctx, dc.Status.SecretName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	tok := string(sec.Data["token"])
	if tok == "" {
		return "", fmt.Errorf("Secret %s/%s has no token", c.Namespace, dc.Status.SecretName)
	}
	return tok, nil
}

// AuditEvent waits, within ctx, for a server pod's log to hold an audit line of event (as
// "event":"<event>") that also contains every one of with, and returns the line. The servers
// and `latch admin` run through `kubectl latch` write their audit to the pod's log.
func (c *Cluster) AuditEvent(ctx context.Context, event string, with ...string) (string, error) {
	var found string
	want := append([]string{`"event":"` + event + `"`}, with...)
	err := childproc.Poll(ctx, 300*time.Millisecond, func(ctx context.Context) error {
		pods, err := c.ServerPods(ctx)
		if err != nil {
			return err
		}
		for _, p := range pods {
			b, err := c.Kube.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
			if err != nil {
				continue
			}
			for line := range strings.Lines(string(b)) {
				if containsAll(line, want) {
					found = strings.TrimSpace(line)
					return nil
				}
			}
		}
		return errors.New("no server pod's log holds an audit line with " + strings.Join(want, " and "))
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
