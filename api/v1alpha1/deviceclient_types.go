package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClientType is the kind of client a DeviceClient registers.
// +kubebuilder:validation:Enum=device;app
type ClientType string

// The client types.
const (
	// ClientDevice is a device (a sensor, a kiosk, a service) that authenticates with a token
	// the operator mints into a Secret.
	ClientDevice ClientType = "device"
	// ClientApp is an application whose client id the keyToken and bearerToken dialects accept.
	ClientApp ClientType = "app"
)

// CreatePolicy says whether the operator may create the credentials Secret.
// +kubebuilder:validation:Enum=IfMissing;Never
type CreatePolicy string

// The create policies.
const (
	// CreateIfMissing lets the operator mint a token and write the Secret.
	CreateIfMissing CreatePolicy = "IfMissing"
	// CreateNever waits for a Secret the user provides (an ExternalSecret, say).
	CreateNever CreatePolicy = "Never"
)

// DeletionPolicy says what deleting a DeviceClient does to its registration.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

// The deletion policies.
const (
	// DeletionDelete deregisters the client, revokes its device tokens and ends the keyToken
	// sessions opened with its client id.
	DeletionDelete DeletionPolicy = "Delete"
	// DeletionOrphan leaves the registration, the tokens and the sessions in Redis.
	DeletionOrphan DeletionPolicy = "Orphan"
)

// DeviceClientSpec declares one device or app client of a realm.
// +kubebuilder:validation:XValidation:rule="has(self.clientID) == has(oldSelf.clientID) && (!has(self.clientID) || self.clientID == oldSelf.clientID)",message="clientID is immutable; delete and re-create the DeviceClient to change it"
// +kubebuilder:validation:XValidation:rule="self.realmRef == oldSelf.realmRef",message="realmRef is immutable; delete and re-create the DeviceClient to move it to another realm"
// +kubebuilder:validation:XValidation:rule="!has(self.rotation) || !has(self.rotation.period) || !has(self.tokenLifespan) || duration(self.rotation.period) < duration(self.tokenLifespan)",message="rotation.period must be shorter than tokenLifespan, so a token is replaced before it expires"
type DeviceClientSpec struct {
	// realmRef names the AuthRealm this client belongs to.
	// +required
	RealmRef RealmReference `json:"realmRef"`

	// clientID is the client's id in the realm; it defaults to the object's name and cannot
	// change.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_-]*$`
	ClientID string `json:"clientID,omitempty"`

	// type is device (the operator mints a token) or app (a client id for keyToken and
	// bearerToken).
	// +optional
	// +kubebuilder:default=device
	Type ClientType `json:"type,omitempty"`

	// tokenLifespan is how long a minted device token lives.
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="tokenLifespan must be a positive duration"
	TokenLifespan *metav1.Duration `json:"tokenLifespan,omitempty"`

	// rotation says when a device token is replaced and how long the old one keeps working.
	// +optional
	// +kubebuilder:default={}
	Rotation RotationSpec `json:"rotation,omitempty"`

	// roles are granted to the client and reported by token introspection.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9:._-]{1,64}$`
	Roles []string `json:"roles,omitempty"`

	// credentials says where the device token lives.
	// +optional
	// +kubebuilder:default={}
	Credentials CredentialsSpec `json:"credentials,omitempty"`

	// deletionPolicy says whether deleting this object deregisters the client.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// RealmReference names an AuthRealm.
type RealmReference struct {
	// name is the realm's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// namespace is the realm's namespace; empty means the client's own. The realm's
	// clientNamespaceSelector must admit the client's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// RotationSpec sets device token rotation.
// +kubebuilder:validation:XValidation:rule="!has(self.overlap) || !has(self.period) || duration(self.overlap) < duration(self.period)",message="rotation.overlap must be shorter than rotation.period"
type RotationSpec struct {
	// period is the age at which a token is replaced.
	// +optional
	// +kubebuilder:default="600h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="rotation.period must be a positive duration"
	Period *metav1.Duration `json:"period,omitempty"`
	// overlap is how long the replaced token keeps working after a rotation, so devices
	// can pick up the new one.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="rotation.overlap must be a positive duration"
	Overlap *metav1.Duration `json:"overlap,omitempty"`
}

// CredentialsSpec says where the token lives.
// +kubebuilder:validation:XValidation:rule="!has(self.create) || self.create != 'Never' || has(self.secretName)",message="credentials.secretName is required when credentials.create is Never: name the Secret you provide"
type CredentialsSpec struct {
	// secretName is the credentials Secret; it defaults to "<name>-credentials".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	SecretName string `json:"secretName,omitempty"`
	// create is IfMissing (the operator writes the Secret) or Never (you provide it, with a
	// key token, and the operator registers what it holds).
	// +optional
	// +kubebuilder:default=IfMissing
	Create CreatePolicy `json:"create,omitempty"`
	// secretTemplate adds labels and annotations to a Secret the operator writes.
	// +optional
	SecretTemplate SecretTemplate `json:"secretTemplate,omitempty"`
}

// SecretTemplate is metadata for a generated Secret.
type SecretTemplate struct {
	// labels are added to the Secret.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// annotations are added to the Secret.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// DeviceClientStatus is the observed state of a client.
type DeviceClientStatus struct {
	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions are Ready, Registered, CredentialsReady and RefsResolved.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// clientID is the registered client id.
	// +optional
	ClientID string `json:"clientID,omitempty"`
	// deviceID is the registered device id (type device).
	// +optional
	DeviceID string `json:"deviceID,omitempty"`
	// secretName is the credentials Secret in use.
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// tokenExpiresAt is when the current device token expires.
	// +optional
	TokenExpiresAt *metav1.Time `json:"tokenExpiresAt,omitempty"`
	// lastRotationTime is when the current device token was minted or registered.
	// +optional
	LastRotationTime *metav1.Time `json:"lastRotationTime,omitempty"`
}

// DeviceClient registers a device or an application with an AuthRealm.
// +kubebuilder:validation:XValidation:rule="has(self.spec.clientID) || self.metadata.name.matches('^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$')",message="metadata.name is not a valid client id (letters, digits, '_' and '-', at most 63): set spec.clientID"
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dc;devclient,categories=latch
// +kubebuilder:printcolumn:name="Realm",type=string,JSONPath=`.spec.realmRef.name`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DeviceClient struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired client.
	// +required
	Spec DeviceClientSpec `json:"spec"`
	// status is the observed client.
	// +optional
	Status DeviceClientStatus `json:"status,omitempty"`
}

// DeviceClientList is a list of DeviceClients.
// +kubebuilder:object:root=true
type DeviceClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DeviceClient `json:"items"`
}

func init() {
	SchemeBuilder.Register(&DeviceClient{}, &DeviceClientList{})
}
