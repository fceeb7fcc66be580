// Package servertest runs the real latch binary as a child process for HTTP tests: built once per test process, on free loopback ports, with a real redis-server and an SMTP mailbox, stopped with SIGTERM at cleanup.
package servertest
