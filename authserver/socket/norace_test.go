//go:build !race

package socket_test

const raceNote = "without -race"
