// Package childproc holds what the test harnesses and the bench need of the processes they
// start: that none outlives the program that started it.
package childproc
