// Package controllers holds Latch's reconcilers: one per kind, each split into the main loop,
// pure functions that build the desired objects, and pure functions that compute status.
package controllers
