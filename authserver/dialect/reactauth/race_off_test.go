//go:build !race

package reactauth_test

const raceEnabled = false
