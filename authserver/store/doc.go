// Package store is the auth server's storage interface, its domain types and sentinel errors, shared by the Redis and in-memory backends.
package store
