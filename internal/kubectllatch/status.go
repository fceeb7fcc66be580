package kubectllatch

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// statusOptions select what status prints.
type statusOptions struct {
	allNamespaces bool
	realm         string // only this realm and its clients, when set
}

// Status prints one table of realms and one of device clients, as `kubectl get` would: the
// Ready condition and its reason, the other conditions that are not as they should be, the
// servers' readiness, and the versions (image tags) the servers run with how many of each
// are ready, which is what an operator watching a rollout or an upgrade wants in one look.
func Status(ctx context.Context, c *Cluster, o statusOptions, w io.Writer) error {
	ns := c.Namespace
	if o.allNamespaces {
		ns = ""
	}
	var realms authv1.AuthRealmList
	if err := c.Latch.Get().Namespace(ns).Resource("authrealms").Do(ctx).Into(&realms); err != nil {
		return fmt.Errorf("list realms: %w", err)
	}
	var clients authv1.DeviceClientList
	if err := c.Latch.Get().Namespace(ns).Resource("deviceclients").Do(ctx).Into(&clients); err != nil {
		return fmt.Errorf("list device clients: %w", err)
	}
	versions, err := serverVersions(ctx, c, ns)
	if err != nil {
		return err
	}

	sort.Slice(realms.Items, func(i, j int) bool { return key(&realms.Items[i].ObjectMeta) < key(&realms.Items[j].ObjectMeta) })
	sort.Slice(clients.Items, func(i, j int) bool { return key(&clients.Items[i].ObjectMeta) < key(&clients.Items[j].ObjectMeta) })

	where := "namespace " + c.Namespace
	if o.allNamespaces {
		where = "any namespace"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	row := func(namespace string, cols ...string) {
		if o.allNamespaces {
			cols = append([]string{namespace}, cols...)
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}

	shown := 0
	for i := range realms.Items {
		r := &realms.Items[i]
		if o.realm != "" && r.Name != o.realm {
			continue
		}
		if shown == 0 {
			row("NAMESPACE", "REALM", "READY", "REASON", "SERVERS", "VERSIONS", "CONDITIONS")
		}
		shown++
		ready, reason := readyOf(r.Status.Conditions, r.Generation)
		desired := int32(1)
		if r.Spec.Replicas != nil {
			desired = *r.Spec.Replicas
		}
		row(r.Namespace, r.Name, ready, reason, fmt.Sprintf("%d/%d", r.Status.ReadyReplicas, desired),
			versions.of(r.Namespace, r.Name), otherConditions(r.Status.Conditions))
	}
	if shown == 0 {
		fmt.Fprintf(tw, "No AuthRealms in %s.\n", where)
	}
	fmt.Fprintln(tw)

	shown = 0
	for i := range clients.Items {
		d := &clients.Items[i]
		realmNS := d.Spec.RealmRef.Namespace
		if realmNS == "" {
			realmNS = d.Namespace
		}
		if o.realm != "" && (d.Spec.RealmRef.Name != o.realm || realmNS != c.Namespace) {
			continue
		}
		if shown == 0 {
			row("NAMESPACE", "DEVICE CLIENT", "REALM", "READY", "REASON", "CONDITIONS")
		}
		shown++
		realm := d.Spec.RealmRef.Name
		if realmNS != d.Namespace {
			realm = realmNS + "/" + realm
		}
		ready, reason := readyOf(d.Status.Conditions, d.Generation)
		row(d.Namespace, d.Name, realm, ready, reason, otherConditions(d.Status.Conditions))
	}
	if shown == 0 {
		fmt.Fprintf(tw, "No DeviceClients in %s.\n", where)
	}
	return tw.Flush()
}

func key(m *metav1.ObjectMeta) string { return m.Namespace + "/" + m.Name }

// readyOf is the Ready condition's status and reason. A status the operator wrote for an
// older generation says so: it describes a spec that is no longer the realm's.
func readyOf(conds []metav1.Condition, generation int64) (status, reason string) {
	c := meta.FindStatusCondition(conds, authv1.ConditionReady)
	if c == nil {
		return "Unknown", "-"
	}
	reason = c.Reason
	if reason == "" {
		reason = "-"
	}
	if c.ObservedGeneration != 0 && c.ObservedGeneration < generation {
		reason += " (stale)"
	}
	return string(c.Status), reason
}

// otherConditions lists the conditions besides Ready that are not as they are on a healthy
// object: Degraded and Progressing when True (a rollout under way is worth seeing), every
// other one when not True, as Type=Status(Reason). "-" when there is none.
func otherConditions(conds []metav1.Condition) string {
	var out []string
	for _, c := range conds {
		bad := c.Status != metav1.ConditionTrue
		switch c.Type {
		case authv1.ConditionReady:
			continue
		case authv1.ConditionDegraded, authv1.ConditionProgressing:
			bad = c.Status == metav1.ConditionTrue
		}
		if bad {
			out = append(out, fmt.Sprintf("%s=%s(%s)", c.Type, c.Status, c.Reason))
		}
	}
	if len(out) == 0 {
		return "-"
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// versionTable is the server versions of each realm, by namespace/name.
type versionTable struct {
	byRealm map[string]map[string]*versionCount
	denied  bool
}

type versionCount struct{ ready, total int }

// serverVersions lists the server pods of every realm in ns (all namespaces when "") in one
// call, by the label every realm's servers carry. A caller who may read realms but not pods
// still gets the rest of the table.
func serverVersions(ctx context.Context, c *Cluster, ns string) (versionTable, error) {
	vt := versionTable{byRealm: map[string]map[string]*versionCount{}}
	sel := labels.SelectorFromSet(labels.Set{serverNameLabel: serverNameValue}).String()
	pods, err := c.Core.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if apierrors.IsForbidden(err) {
		vt.denied = true
		return vt, nil
	}
	if err != nil {
		return vt, fmt.Errorf("list server pods: %w", err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		image := ""
		for _, ct := range p.Spec.Containers {
			if ct.Name == serverContainer {
				image = ct.Image
			}
		}
		if image == "" {
			continue
		}
		k := p.Namespace + "/" + p.Labels[instanceLabel]
		if vt.byRealm[k] == nil {
			vt.byRealm[k] = map[string]*versionCount{}
		}
		v := imageVersion(image)
		if vt.byRealm[k][v] == nil {
			vt.byRealm[k][v] = &versionCount{}
		}
		vt.byRealm[k][v].total++
		// The rule FindTarget chooses by: "1/2" means one pod latch admin can run in.
		if unready(p) == "" {
			vt.byRealm[k][v].ready++
		}
	}
	return vt, nil
}

// of renders a realm's versions as "TAG ready/total", several during a rollout.
func (vt versionTable) of(namespace, realm string) string {
	if vt.denied {
		return "(pods forbidden)"
	}
	vs := vt.byRealm[namespace+"/"+realm]
	if len(vs) == 0 {
		return "-"
	}
	names := make([]string, 0, len(vs))
	for v := range vs {
		names = append(names, v)
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, v := range names {
		out[i] = fmt.Sprintf("%s %d/%d", v, vs[v].ready, vs[v].total)
	}
	return strings.Join(out, ",")
}

// imageVersion is an image's tag (its short digest when pinned by digest only; "latest" when
// it names neither, as the runtime would pull).
func imageVersion(image string) string {
	if name, digest, ok := strings.Cut(image, "@"); ok {
		if v := imageVersion(name); v != "latest" {
			return v
		}
		if _, hex, ok := strings.Cut(digest, ":"); ok && len(hex) > 12 {
			return "@" + hex[:12]
		}
		return "@" + digest
	}
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[colon+1:]
	}
	return "latest"
}
