// Package token mints IDs and secrets, hashes secrets with the realm's key, and parses the composite tokens of DESIGN.md.
package token
