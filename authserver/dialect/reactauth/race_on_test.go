//go:build race

package reactauth_test

// raceEnabled: the server under test is built with the race detector too, which multiplies
// its memory; the figures of TestIdleSocketsRevokeAll say so.
const raceEnabled = true
