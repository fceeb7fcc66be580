package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// The registration step of the DeviceClient reconciler: what Redis holds for a client, made
// to match its spec and credentials.

func (r *DeviceClientReconciler) reconcileRegistration(ctx context.Context, s *clientScope) error {
	if isDevice(s.dc) {
		return r.reconcileDeviceTokens(ctx, s)
	}
	return r.reconcileAppClient(ctx, s)
}

// wasRegistered reports whether the last status said the client was registered: a
// registration missing from Redis now is then a loss, not a first registration.
func wasRegistered(dc *authv1.DeviceClient) bool {
	for _, c := range dc.Status.Conditions {
		if c.Type == authv1.ConditionRegistered {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

func (r *DeviceClientReconciler) reconcileAppClient(ctx context.Context, s *clientScope) error {
	id := clientIDOf(s.dc)
	want := store.AppClient{ID: id, Roles: s.dc.Spec.Roles}
	have, err := s.registry.GetAppClient(ctx, id)
	missing := errors.Is(err, store.ErrNotFound)
	if err != nil && !missing {
		return fmt.Errorf("read app client %s: %w", id, err)
	}
	state := &registrationState{Live: true}
	if missing || !sameAppClient(have, want) {
		if err := s.registry.PutAppClient(ctx, want); err != nil {
			return fmt.Errorf("register app client %s: %w", id, err)
		}
		state.Restored = missing && wasRegistered(s.dc)
		state.Changed = !state.Restored
	}
	// A client that was a device before keeps no device tokens.
	tokens, err := s.registry.ListDeviceTokens(ctx, id, s.now)
	if err != nil {
		return fmt.Errorf("list device tokens of %s: %w", id, err)
	}
	if len(tokens) > 0 {
		if _, err := s.registry.DeleteAllDeviceTokens(ctx, id, s.now); err != nil {
			return fmt.Errorf("revoke device tokens of app client %s: %w", id, err)
		}
		state.Changed = true
	}
	s.registration = state
	switch {
	case state.Restored:
		r.restoredEvent(ctx, s)
	case state.Changed:
		r.event(s.dc, corev1.EventTypeNormal, "Registered", "Register", "registered app client %s in realm %s", id, s.realmKey)
	}
	return nil
}

// credentialChange says what happened to the credentials in this reconcile.
type credentialChange int

const (
	credentialsKept credentialChange = iota
	credentialsFirst
	credentialsRotated
	credentialsRecreated // the operator's Secret was deleted
	credentialsRepaired  // the operator's Secret held no valid token
)

// reconcileDeviceTokens makes Redis hold exactly the client's desired device tokens: the
// credentials Secret's, and during an overlap the one a rotation replaced. New tokens are
// registered before the Secret that hands them out is written, and replaced tokens are
// revoked only after it, so no device ever holds a token that does not work yet.
func (r *DeviceClientReconciler) reconcileDeviceTokens(ctx context.Context, s *clientScope) error {
	dc := s.dc
	id := clientIDOf(dc)
	observed, err := s.registry.ListDeviceTokens(ctx, id, s.now)
	if err != nil {
		return fmt.Errorf("list device tokens of %s: %w", id, err)
	}
	// A client that was an app before keeps no app client record.
	if err := s.registry.DeleteAppClient(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("remove the app client record of device client %s: %w", id, err)
	}

	var creds credentials
	var change credentialChange
	var ok bool
	if createsCredentials(dc) {
		creds, change, ok, err = r.operatorCredentials(ctx, s, len(observed) > 0)
	} else {
		creds, ok, err = r.userCredentials(ctx, s, observed)
	}
	if err != nil {
		return err
	}
	if !ok {
		// The credentials are missing or unusable: the registration is left as it is (a token
		// is revoked only when replaced, or with the client), and reported as found.
		s.registration = observedRegistration(observed)
		return nil
	}
	s.credentialsOK = true

	plan := planDeviceTokens(desiredTokens(dc, s.hasher, creds, change), observed, s.now)
	for _, put := range plan.Put {
		if err := s.registry.PutDeviceToken(ctx, put.Token, s.now); err != nil {
			return fmt.Errorf("register a device token of %s: %w", id, err)
		}
	}
	if createsCredentials(dc) {
		sec := buildCredentialsSecret(dc, creds)
		// Written only over the Secret the credentials were read from: a token written into it
		// since then (by hand) fails the apply with a conflict, and the retry registers that
		// token, instead of this reconcile writing back the one it read.
		sec.ResourceVersion = s.credentialsVersion
		if err := s.apply.apply(ctx, sec); err != nil {
			return err
		}
	}
	for _, h := range plan.Revoke {
		if err := s.registry.DeleteDeviceToken(ctx, id, h); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("revoke a device token of %s: %w", id, err)
		}
	}

	lost := wasRegistered(dc) && len(observed) == 0 && len(plan.Put) > 0
	for _, put := range plan.Put {
		lost = lost && !put.Minted
	}
	s.registration = &registrationState{
		Live:           true,
		TokenExpiresAt: creds.Current.ExpiresAt,
		TokenIssuedAt:  creds.Current.IssuedAt,
		Restored:       lost,
		Changed:        !lost && (len(plan.Put) > 0 || len(plan.Revoke) > 0),
	}
	r.deviceEvent(ctx, s, change, creds, plan)
	return nil
}

// desiredTokens are the registrations the credentials call for: the current token, and
// during an overlap the one a rotation replaced. Every one carries the client's metadata.
func desiredTokens(dc *authv1.DeviceClient, hasher *token.Hasher, c credentials, change credentialChange) []registration {
	desired := []registration{{
		Token: store.DeviceToken{
			Hash: hasher.Hash(c.Current.Secret), ClientID: clientIDOf(dc), DeviceID: deviceIDOf(dc), Roles: dc.Spec.Roles,
			CreatedAt: c.Current.IssuedAt, ExpiresAt: c.Current.ExpiresAt,
		},
		Minted: change != credentialsKept,
	}}
	if p := c.Previous; p != nil {
		desired = append(desired, registration{Token: store.DeviceToken{
			Hash: p.Hash, ClientID: clientIDOf(dc), DeviceID: deviceIDOf(dc), Roles: dc.Spec.Roles,
			CreatedAt: p.IssuedAt, ExpiresAt: p.ExpiresAt,
		}})
	}
	return desired
}

// observedRegistration reports what Redis holds for a client whose credentials are not usable.
func observedRegistration(observed []store.DeviceToken) *registrationState {
	st := &registrationState{Live: len(observed) > 0}
	if n := len(observed); n > 0 {
		latest := observed[n-1] // listed soonest expiry first
		st.TokenExpiresAt, st.TokenIssuedAt = latest.ExpiresAt, latest.CreatedAt
	}
	return st
}

// operatorCredentials decides what the Secret the operator writes is to hold: the token it
// holds, a rotated one when due, or a new one when the Secret is missing or unusable.
func (r *DeviceClientReconciler) operatorCredentials(ctx context.Context, s *clientScope, hadTokens bool) (credentials, credentialChange, bool, error) {
	dc := s.dc
	id := clientIDOf(dc)
	timings := timingsOf(dc)
	key := types.NamespacedName{Namespace: dc.Namespace, Name: credentialsSecretName(dc)}
	sec := &corev1.Secret{}
	err := r.Client.Get(ctx, key, sec)
	var c credentials
	change := credentialsFirst
	switch {
	case kerrors.IsNotFound(err):
		if hadTokens {
			change = credentialsRecreated
		}
	case err != nil:
		return c, 0, false, fmt.Errorf("get Secret %s: %w", key, err)
	case !metav1.IsControlledBy(sec, dc):
		s.credentialsProblem = &problem{authv1.ReasonSecretNotOwned,
			fmt.Sprintf("Secret %s exists and was not written by this DeviceClient: delete it, set spec.credentials.secretName to another name, or set spec.credentials.create to Never to register the token it holds", key)}
		return c, 0, false, nil
	default:
		s.credentialsVersion = sec.ResourceVersion
		parsed, p := parseCredentials(sec, id, true)
		if p == nil && parsed.Current.ExpiresAt.IsZero() {
			p = &problem{authv1.ReasonInvalidCredentials, fmt.Sprintf("Secret %s has no key %q", key, credKeyExpires)}
		}
		if p != nil {
			r.event(dc, corev1.EventTypeWarning, "CredentialsReplaced", "Mint",
				"Secret %s held no usable token (%s): the operator writes a new one and revokes the old", key, p.Reason)
			change = credentialsRepaired
			break
		}
		c = parsed
		if c.Current.IssuedAt.IsZero() {
			// The issue-time annotation was removed: assume a full lifespan.
			c.Current.IssuedAt = c.Current.ExpiresAt.Add(-timings.Lifespan)
		}
		if c.Previous != nil && !c.Previous.ExpiresAt.After(s.now) {
			c.Previous = nil // the overlap is over; the annotations go with the next write
		}
		due := rotationDue(c.Current.IssuedAt, c.Current.ExpiresAt, timings)
		if s.now.Before(due) {
			s.deadlines = append(s.deadlines, due)
			if c.Previous != nil {
				s.deadlines = append(s.deadlines, c.Previous.ExpiresAt) // to drop its record
			}
			return c, credentialsKept, true, nil
		}
		// Rotate: the replaced token stays valid for the overlap, never past its own expiry.
		// Whole seconds, as the annotation that records it.
		prevExp := s.now.UTC().Truncate(time.Second).Add(timings.Overlap)
		if c.Current.ExpiresAt.Before(prevExp) {
			prevExp = c.Current.ExpiresAt
		}
		c.Previous = &previousToken{Hash: s.hasher.Hash(c.Current.Secret), IssuedAt: c.Current.IssuedAt, ExpiresAt: prevExp}
		if prevExp.After(s.now) {
			s.deadlines = append(s.deadlines, prevExp)
		} else {
			c.Previous = nil // expired already (the operator was down): nothing to keep
		}
		change = credentialsRotated
	}
	tok, err := mintToken(id, s.now, timings.Lifespan)
	if err != nil {
		return c, 0, false, err
	}
	c.Current = tok
	s.deadlines = append(s.deadlines, rotationDue(tok.IssuedAt, tok.ExpiresAt, timings))
	return c, change, true, nil
}

// userCredentials reads the Secret the user provides (create: Never). Nothing is invented
// while it is missing or unusable: the condition says what to provide.
func (r *DeviceClientReconciler) userCredentials(ctx context.Context, s *clientScope, observed []store.DeviceToken) (credentials, bool, error) {
	dc := s.dc
	id := clientIDOf(dc)
	key := types.NamespacedName{Namespace: dc.Namespace, Name: credentialsSecretName(dc)}
	sec := &corev1.Secret{}
	err := r.Client.Get(ctx, key, sec)
	switch {
	case kerrors.IsNotFound(err):
		s.credentialsProblem = &problem{authv1.ReasonSecretMissing,
			fmt.Sprintf("waiting for Secret %s (spec.credentials.create is Never): create it with key %q; %s", key, credKeyToken, howToMakeToken(id))}
		return credentials{}, false, nil
	case err != nil:
		return credentials{}, false, fmt.Errorf("get Secret %s: %w", key, err)
	}
	c, p := parseCredentials(sec, id, false)
	if p != nil {
		s.credentialsProblem = p
		return credentials{}, false, nil
	}
	if exp := c.Current.ExpiresAt; !exp.IsZero() {
		if !exp.After(s.now) {
			s.credentialsProblem = &problem{authv1.ReasonTokenExpired,
				fmt.Sprintf("the token in Secret %s expired at %s (its key %q): store a new token, or remove the key to let the operator keep the token registered", key, formatTime(exp), credKeyExpires)}
			return credentials{}, false, nil
		}
		s.deadlines = append(s.deadlines, exp)
	}
	hash := s.hasher.Hash(c.Current.Secret)
	var registered store.DeviceToken
	for _, o := range observed {
		if o.Hash == hash {
			registered = o
		}
	}
	c.Current.IssuedAt = registered.CreatedAt
	if c.Current.IssuedAt.IsZero() {
		c.Current.IssuedAt = s.now.UTC().Truncate(time.Second)
	}
	if c.Current.ExpiresAt.IsZero() {
		lifespan := timingsOf(dc).Lifespan
		c.Current.ExpiresAt = userTokenExpiry(registered.ExpiresAt, s.now, lifespan)
		s.deadlines = append(s.deadlines, userTokenRenewal(c.Current.ExpiresAt, lifespan))
	}
	return c, true, nil
}

// removeStaleCredentials deletes the Secret the operator wrote under a previous
// spec.credentials.secretName (or for a client that is no longer a device): its token has
// been revoked, and nothing else would ever remove it before the DeviceClient goes.
func (r *DeviceClientReconciler) removeStaleCredentials(ctx context.Context, s *clientScope) error {
	old := s.dc.Status.SecretName
	if old == "" || (isDevice(s.dc) && old == credentialsSecretName(s.dc)) {
		return nil
	}
	stale := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.dc.Namespace, Name: old}}
	return s.apply.remove(ctx, stale, s.dc)
}

// deviceEvent records what a device reconcile changed, if anything.
func (r *DeviceClientReconciler) deviceEvent(ctx context.Context, s *clientScope, change credentialChange, c credentials, plan deviceTokenPlan) {
	dc, id := s.dc, clientIDOf(s.dc)
	secret := dc.Namespace + "/" + credentialsSecretName(dc)
	switch {
	case s.registration.Restored:
		r.restoredEvent(ctx, s)
	case change == credentialsRotated && c.Previous != nil:
		r.event(dc, corev1.EventTypeNormal, "TokenRotated", "Rotate",
			"rotated the device token of client %s in Secret %s; the previous token stays valid until %s", id, secret, formatTime(c.Previous.ExpiresAt))
	case change == credentialsRotated:
		r.event(dc, corev1.EventTypeNormal, "TokenRotated", "Rotate", "rotated the device token of client %s in Secret %s", id, secret)
	case change == credentialsRecreated:
		r.event(dc, corev1.EventTypeNormal, "CredentialsRecreated", "Mint",
			"Secret %s was missing: wrote it with a new token and revoked %d old", secret, len(plan.Revoke))
	case change == credentialsFirst:
		r.event(dc, corev1.EventTypeNormal, "Registered", "Register", "registered device client %s in realm %s; its token is in Secret %s", id, s.realmKey, secret)
	case change == credentialsRepaired:
		// Reported when the Secret was found unusable.
	case len(plan.Revoke) > 0 && len(plan.Put) > 0:
		r.event(dc, corev1.EventTypeNormal, "CredentialsChanged", "Register",
			"registered the new token of Secret %s and revoked %d old", secret, len(plan.Revoke))
	case len(plan.Put) > 0:
		r.event(dc, corev1.EventTypeNormal, "Registered", "Register", "updated the registration of device client %s in realm %s", id, s.realmKey)
	case len(plan.Revoke) > 0:
		r.event(dc, corev1.EventTypeNormal, "TokensRevoked", "Revoke", "revoked %d device tokens of client %s no longer in use", len(plan.Revoke), id)
	}
}

func (r *DeviceClientReconciler) restoredEvent(ctx context.Context, s *clientScope) {
	log.FromContext(ctx).Info("registration restored", "client", clientIDOf(s.dc), "realm", s.realmKey)
	registrationsRestored.WithLabelValues(s.realmKey.Namespace, s.realmKey.Name).Inc()
	r.event(s.dc, corev1.EventTypeWarning, "RegistrationRestored", "Register",
		"Redis of realm %s had lost the registration of client %s (flushed, failed over or restored from an old snapshot): it was written again", s.realmKey, clientIDOf(s.dc))
}
