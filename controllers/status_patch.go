package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// patchStatus makes want the status of obj, whose status field status points at. It writes
// only when want differs from the status obj was read with, so a no-op reconcile writes
// nothing. The write is a merge patch of the status subresource without optimistic locking:
// each reconciler is the only writer of its kind's status, and a patch computed from a stale
// read only carries the fields this reconcile changed.
func patchStatus[S any](ctx context.Context, c client.Client, obj client.Object, status *S, want S) error {
	if equality.Semantic.DeepEqual(want, *status) {
		return nil
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	*status = want
	if err := c.Status().Patch(ctx, obj, patch); err != nil {
		return fmt.Errorf("patch status: %w", err)
	}
	return nil
}
