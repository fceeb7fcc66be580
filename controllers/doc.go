// Package controllers holds Latch's reconcilers: one per kind, each split into the main loop,
// pure functions that build the desired objects, and pure functions that compute status.
//
// A DeviceClient reconcile reaches its realm's store through the realm's access
// (realm_access.go): the Redis settings and credentials the realm's servers use and the
// hasher they build from the token hash key, derived from the realm's rendered config and
// the Secrets it mounts once per generation of the realm and version of those Secrets, and
// shared by all the realm's clients. It writes registrations through the narrow
// clientRegistry interface; the connections themselves, one per realm, are kept by
// internal/realmstore, the only part of the operator that links the Redis store.
package controllers
