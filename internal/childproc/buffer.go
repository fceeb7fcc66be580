package childproc

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer collects a child's output. It is safe for the two writers exec gives a process
// (stdout and stderr copied on their own goroutines) and a reader at once, which a
// bytes.Buffer is not.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len is the number of bytes written so far: a cheap way to tell whether output still comes.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

// LastLines returns the last n lines of s, for an error message that should show how a
// child's output ended without all of it.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, " \t\r\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
