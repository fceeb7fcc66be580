// Package password hashes and verifies passwords with argon2id in a bounded pool and checks the password policy.
package password
