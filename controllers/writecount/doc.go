// Package writecount counts the API writes a controller-runtime client makes, so tests and
// benchmarks can show that a no-op reconcile writes nothing.
package writecount
