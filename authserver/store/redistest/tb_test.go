package redistest

import "testing"

// The helpers take TB so that a program can use them; a test passes its *testing.T.
var _ TB = testing.TB(nil)
