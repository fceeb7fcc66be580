// Package realmstore keeps the operator's connections to its realms' Redis: one client
// registry per realm, shared by every DeviceClient of the realm, replaced when the realm's
// connection settings change and closed when the realm goes. It is the only part of the
// operator that links the Redis store; the reconcilers see store.Clients.
package realmstore
