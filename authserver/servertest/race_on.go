//go:build race

package servertest

// raceEnabled builds the server with the race detector when the tests run with it, so a
// data race in the server fails the test that provoked it.
const raceEnabled = true
