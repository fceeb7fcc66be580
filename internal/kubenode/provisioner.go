package kubenode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// provisioner serves the default StorageClass: for each claim of the class that the
// scheduler has placed (WaitForFirstConsumer sets volume.kubernetes.io/selected-node), it
// makes a directory under the state directory and a hostPath PersistentVolume bound to the
// claim; once such a volume is released it removes both. It is the node's own, in-process,
// because kube-controller-manager's hostpath provisioner makes its directories under /tmp
// with mode 0750 owned by root, which a non-root pod (the managed Redis, user 999) cannot
// write, and fsGroup does not apply to hostPath volumes.
//
// The directories are mode 0777: any pod's user can write its volume, as on a dev node
// whose volumes only that node's pods reach.
type provisioner struct {
	cs  kubernetes.Interface
	dir string
	// report receives the errors it meets, which it retries on its next pass.
	report func(error)
}

const (
	provisionEvery    = 250 * time.Millisecond
	selectedNodeKey   = "volume.kubernetes.io/selected-node"
	provisionedByKey  = "pv.kubernetes.io/provisioned-by"
	provisionedDirKey = "kubenode.latch/dir"
)

func (p *provisioner) run(ctx context.Context) {
	t := time.NewTicker(provisionEvery)
	defer t.Stop()
	for {
		if err := p.pass(ctx); err != nil && ctx.Err() == nil {
			p.report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pass provisions every placed pending claim and deletes every released volume.
func (p *provisioner) pass(ctx context.Context) error {
	pvcs, err := p.cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range pvcs.Items {
		c := &pvcs.Items[i]
		if c.Status.Phase != corev1.ClaimPending || c.Spec.VolumeName != "" || ptr.Deref(c.Spec.StorageClassName, "") != StorageClassName {
			continue
		}
		if c.Annotations[selectedNodeKey] == "" {
			continue // not placed yet: WaitForFirstConsumer
		}
		if err := p.provision(ctx, c); err != nil {
			return err
		}
	}
	pvs, err := p.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range pvs.Items {
		v := &pvs.Items[i]
		if v.Annotations[provisionedByKey] != provisionerName || v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
			continue
		}
		if v.Status.Phase != corev1.VolumeReleased && v.Status.Phase != corev1.VolumeFailed {
			continue
		}
		if d := v.Annotations[provisionedDirKey]; d != "" && filepath.Dir(d) == p.dir {
			if err := os.RemoveAll(d); err != nil {
				return fmt.Errorf("remove volume %s: %w", d, err)
			}
		}
		if err := p.cs.CoreV1().PersistentVolumes().Delete(ctx, v.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete PersistentVolume %s: %w", v.Name, err)
		}
	}
	return nil
}

func (p *provisioner) provision(ctx context.Context, c *corev1.PersistentVolumeClaim) error {
	name := "pvc-" + string(c.UID)
	dir := filepath.Join(p.dir, name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("volume for %s/%s: %w", c.Namespace, c.Name, err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // past the umask
		return err
	}
	size, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		size = mustQuantity("1Gi")
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{provisionedByKey: provisionerName, provisionedDirKey: dir},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   c.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              StorageClassName,
			VolumeMode:                    c.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: c.Namespace, Name: c.Name, UID: c.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectory)},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{NodeName},
				}}}},
			}},
		},
	}
	_, err := p.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create PersistentVolume for %s/%s: %w", c.Namespace, c.Name, err)
	}
	return nil
}
