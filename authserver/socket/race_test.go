//go:build race

package socket_test

const raceNote = "under -race, which inflates both"
