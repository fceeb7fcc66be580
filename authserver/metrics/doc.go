// Package metrics holds one auth server's Prometheus collectors in a registry of its own.
package metrics
