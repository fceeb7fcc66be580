package core

import (
	"context"
	"log/slog"
)

// AuditImport records an import of users (latch admin import) as the audit event
// "admin.import" naming the actor, with its source and counts; err is what ended it early,
// if anything. The import itself writes through the store (authserver/importer): one event
// for the whole file, not one per user.
func (a Admin) AuditImport(ctx context.Context, source string, counts map[string]int, err error) {
	attrs := []slog.Attr{slog.String("source", source)}
	for _, k := range []string{"read", "created", "pending", "skipped", "failed", "tokens", "expiredTokens", "foreignHashes"} {
		attrs = append(attrs, slog.Int(k, counts[k]))
	}
	a.audit(ctx, "import", "", err, attrs...)
}
