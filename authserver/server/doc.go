// Package server wires one auth server: store, hashing, mail, core, the enabled dialects on the public port, health and metrics on the admin port, and graceful shutdown.
package server
