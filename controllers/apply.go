package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

// applier writes desired objects with server-side apply under one field manager, and writes
// nothing when the fields it owns already hold the desired values. That is what makes a
// no-op reconcile cost zero API writes, while an edit by anyone else is still undone: the
// editor takes ownership of the fields it changed, so they drop out of what we own, differ
// from the desired object, and are applied back with force.
type applier struct {
	client    client.Client
	scheme    *runtime.Scheme
	converter managedfields.TypeConverter
}

func newApplier(c client.Client, scheme *runtime.Scheme) *applier {
	return &applier{client: c, scheme: scheme, converter: applyconfigurations.NewTypeConverter(scheme)}
}

// apply makes the live object's owned fields equal desired's, writing only when they differ.
func (a *applier) apply(ctx context.Context, desired client.Object) error {
	desiredMap, err := toApplyMap(desired)
	if err != nil {
		return err
	}
	gvk, err := a.gvk(desired)
	if err != nil {
		return err
	}

	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(gvk)
	_, typedKind := desired.(*unstructured.Unstructured)
	typedKind = !typedKind
	var liveObj client.Object = live
	if typedKind {
		o, err := a.scheme.New(gvk)
		if err != nil {
			return fmt.Errorf("new %s: %w", gvk.Kind, err)
		}
		liveObj = o.(client.Object)
	}
	err = a.client.Get(ctx, client.ObjectKeyFromObject(desired), liveObj)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("get %s: %w", describe(gvk.Kind, desired.GetNamespace(), desired.GetName()), err)
	default:
		owned, err := a.ownedFields(liveObj, gvk, typedKind)
		if err != nil {
			return err
		}
		if owned != nil && equality.Semantic.DeepEqual(prune(owned), prune(desiredMap)) {
			return nil
		}
	}

	u := &unstructured.Unstructured{Object: desiredMap}
	u.SetGroupVersionKind(gvk)
	if err := a.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s: %w", describe(gvk.Kind, desired.GetNamespace(), desired.GetName()), err)
	}
	return nil
}

// ownedFields returns the live values of the fields our field manager owns, or nil when it
// owns none (an object someone else created, or one we never applied).
func (a *applier) ownedFields(obj client.Object, gvk schema.GroupVersionKind, typedKind bool) (map[string]any, error) {
	var entry *metav1.ManagedFieldsEntry
	for i, mf := range obj.GetManagedFields() {
		if mf.Manager == fieldOwner && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == "" {
			entry = &obj.GetManagedFields()[i]
			break
		}
	}
	if entry == nil || entry.FieldsV1 == nil {
		return nil, nil
	}
	set := &fieldpath.Set{}
	if err := set.FromJSON(entry.FieldsV1.GetRawReader()); err != nil {
		return nil, fmt.Errorf("decode managed fields: %w", err)
	}
	var tv *typed.TypedValue
	var err error
	if typedKind {
		obj.GetObjectKind().SetGroupVersionKind(gvk)
		tv, err = a.converter.ObjectToTyped(obj, typed.AllowDuplicates)
	} else {
		// Kinds outside the scheme (a ServiceMonitor) have no schema here; a deduced type
		// treats lists as atomic, as a structural CRD without list types does.
		tv, err = typed.DeducedParseableType.FromUnstructured(obj.(*unstructured.Unstructured).Object)
	}
	if err != nil {
		return nil, fmt.Errorf("convert %s to typed: %w", gvk.Kind, err)
	}
	m, ok := tv.ExtractItems(set.Leaves()).AsValue().Unstructured().(map[string]any)
	if !ok {
		return nil, fmt.Errorf("managed fields of %s are not an object", gvk.Kind)
	}
	return m, nil
}

func (a *applier) gvk(obj client.Object) (schema.GroupVersionKind, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.GroupVersionKind(), nil
	}
	return apiutil.GVKForObject(obj, a.scheme)
}

// remove deletes obj if it exists and is controlled by owner.
func (a *applier) remove(ctx context.Context, obj client.Object, owner metav1.Object) error {
	if err := a.client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil
		}
		return fmt.Errorf("get %s: %w", obj.GetName(), err)
	}
	if ref := metav1.GetControllerOf(obj); ref == nil || ref.UID != owner.GetUID() {
		return nil // not ours: leave it alone
	}
	if err := a.client.Delete(ctx, obj, client.Preconditions{UID: ptrTo(obj.GetUID())}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", obj.GetName(), err)
	}
	return nil
}

// toApplyMap is the JSON form of a typed object, without the server-owned fields that a
// typed Go value always carries (creationTimestamp, an empty status).
func toApplyMap(obj client.Object) (map[string]any, error) {
	var m map[string]any
	if u, ok := obj.(*unstructured.Unstructured); ok {
		m = runtime.DeepCopyJSON(u.Object)
	} else {
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", obj.GetName(), err)
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("unmarshal %s: %w", obj.GetName(), err)
		}
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return m, nil
}

// prune drops nulls, empty maps and empty lists, which apply treats as absent, so the
// comparison sees only values that matter. kind, apiVersion, name and namespace are dropped
// too: extraction does not carry them. It works on a copy.
func prune(m map[string]any) map[string]any {
	out := pruneValue(m)
	om, _ := out.(map[string]any)
	if om == nil {
		om = map[string]any{}
	}
	delete(om, "kind")
	delete(om, "apiVersion")
	if md, ok := om["metadata"].(map[string]any); ok {
		// The object's key is not a managed field; it is equal by construction. A desired
		// object's resourceVersion is a precondition of its write, not a field.
		delete(md, "name")
		delete(md, "namespace")
		delete(md, "resourceVersion")
	}
	return om
}

func pruneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			if p := pruneValue(e); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := make([]any, 0, len(t))
		for _, e := range t {
			p := pruneValue(e)
			if p == nil {
				p = map[string]any{}
			}
			out = append(out, p)
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case int64:
		return float64(t)
	case int:
		return float64(t)
	case int32:
		return float64(t)
	}
	return v
}

func ptrTo[T any](v T) *T { return &v }
