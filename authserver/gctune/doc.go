// Package gctune gives the garbage collector a floor of headroom for an auth server.
//
// Go's collector starts a cycle when the heap has grown by GOGC percent (100) over the live
// heap. A session-checking server has a live heap of a few MiB and allocates a few KiB per
// request, so with the default it collects dozens of times a second, and each cycle's fixed
// cost (scanning every connection's goroutine stack, among others) was about a seventh of a
// session check's CPU in the benchmark (BENCHMARKS.md). Raising GOGC for good would multiply
// the heap of a replica holding 10,000 sockets or hashing passwords, whose live heap is large.
//
// Start adjusts GOGC after every cycle so that the next one starts at the larger of twice the
// live heap (GOGC=100, the default's behaviour) and the live heap plus a fixed headroom: small
// heaps get the headroom, large heaps are collected as Go would. This is the GC tuner
// technique; it never lowers GOGC below 100 and it does nothing when GOGC is set in the
// environment, which then wins.
package gctune
