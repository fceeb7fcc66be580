// Package logsink batches a server's log lines into few write syscalls.
//
// An auth server logs one access line per request. Written straight to stdout that is one
// write syscall per request, a sizeable share of a session check's CPU (BENCHMARKS.md). A
// Sink gathers lines in memory and writes them out together: when the buffer fills, every
// FlushInterval, as soon as a warning or an error is logged (Handler), and at Close. Lines
// are never dropped and never split: a writer blocked on a slow stdout holds back the
// loggers, as an unbuffered one would.
package logsink
