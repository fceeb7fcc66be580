// Package core is the service every dialect stands on: registration, login with brute-force limits, sessions, logout and revocation, password reset and change, and email confirmation, with audit events and metrics.
package core
