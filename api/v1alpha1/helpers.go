package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// enabled reads an optional "enabled" flag whose absence means on: a section that is
// present is enabled unless it says otherwise.
func enabled(present bool, flag *bool) bool { return present && (flag == nil || *flag) }

// IsEnabled reports whether the dialect is present and enabled.
func (d *ReactAuthSpec) IsEnabled() bool {
	return enabled(d != nil, flagOf(d != nil, func() *bool { return d.Enabled }))
}

// IsEnabled reports whether the dialect is present and enabled.
func (d *DeviseTokenSpec) IsEnabled() bool {
	return enabled(d != nil, flagOf(d != nil, func() *bool { return d.Enabled }))
}

// IsEnabled reports whether the dialect is present and enabled.
func (d *AccountSpec) IsEnabled() bool {
	return enabled(d != nil, flagOf(d != nil, func() *bool { return d.Enabled }))
}

// IsEnabled reports whether the dialect is present and enabled.
func (d *BearerTokenSpec) IsEnabled() bool {
	return enabled(d != nil, flagOf(d != nil, func() *bool { return d.Enabled }))
}

// IsEnabled reports whether the dialect is present and enabled.
func (d *KeyTokenSpec) IsEnabled() bool {
	return enabled(d != nil, flagOf(d != nil, func() *bool { return d.Enabled }))
}

// IsEnabled reports whether the NetworkPolicies are wanted: always, unless enabled is false.
// Unlike the optional sections, an absent networkPolicy means on (the CRD defaults it to {};
// this covers objects built in Go).
func (n *NetworkPolicySpec) IsEnabled() bool {
	return n == nil || n.Enabled == nil || *n.Enabled
}

// IsSecure reports whether the session cookie is marked Secure: unless secure is false.
func (c CookieSpec) IsSecure() bool { return c.Secure == nil || *c.Secure }

// IsEnabled reports whether the ServiceMonitor is asked for.
func (s *ServiceMonitorSpec) IsEnabled() bool {
	return enabled(s != nil, flagOf(s != nil, func() *bool { return s.Enabled }))
}

func flagOf(present bool, get func() *bool) *bool {
	if !present {
		return nil
	}
	return get()
}

// DurationOr returns d's value, or def when d is unset.
func DurationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// ExternalRedis returns the external Redis of the realm, or nil when the operator manages it
// (the default when spec.redis is unset).
func (s *AuthRealmSpec) ExternalRedis() *ExternalRedisSpec {
	if s.Redis == nil {
		return nil
	}
	return s.Redis.External
}

// ManagedRedis returns the managed Redis settings, or nil for an external Redis. An unset
// spec.redis means a managed Redis with defaults.
func (s *AuthRealmSpec) ManagedRedis() *ManagedRedisSpec {
	switch {
	case s.Redis == nil:
		return &ManagedRedisSpec{}
	case s.Redis.External != nil:
		return nil
	case s.Redis.Managed == nil:
		return &ManagedRedisSpec{}
	}
	return s.Redis.Managed
}
