package memory

import "crypto/subtle"

// equal compares two hashes (of tokens, or password hashes) in time that depends only on
// their lengths, which are public: every hash of a kind has the same length.
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// contains reports whether list holds h, comparing with every element in constant time.
func contains(list []string, h string) bool {
	found := false
	for _, v := range list {
		found = equal(v, h) || found
	}
	return found
}
