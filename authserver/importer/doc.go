// Package importer reads user exports of other systems (devise and devise_token_auth as CSV
// or JSON lines) and creates their users in a realm's store with their password hashes copied,
// not recomputed, and their devise_token_auth tokens kept, so that migrated users log in with
// their old passwords (rehashed to argon2id then) and their clients stay signed in. It is
// `latch admin import`'s engine: streaming, bounded in memory, concurrent, idempotent.
package importer
