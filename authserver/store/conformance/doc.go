// Package conformance is the one test suite every store backend must pass, so memory and Redis behave alike.
package conformance
