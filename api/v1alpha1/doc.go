// Package v1alpha1 holds the auth.latch.dev/v1alpha1 API: AuthRealm and DeviceClient.
// +kubebuilder:object:generate=true
// +groupName=auth.latch.dev
package v1alpha1
