// Package memory is the in-memory store backend: one process, no Redis, for a single development server.
package memory
