// Package password hashes and verifies passwords with argon2id in a bounded pool and checks the password policy.
// Users imported from other systems keep their bcrypt, PBKDF2-SHA256 or argon2i hashes, which verify in the
// same pool (foreign.go) until their first login rehashes them to argon2id.
package password
