package mail

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Log is the development mailer: it builds each message (so an invalid one fails here as it
// would over SMTP) and logs its recipient and subject. It never logs the body, which holds
// reset and confirmation tokens; read them from the store in development.
type Log struct {
	logger *slog.Logger
	from   string
}

// NewLog returns a log mailer writing to logger, sending as from.
func NewLog(logger *slog.Logger, from string) (*Log, error) {
	if logger == nil {
		return nil, errors.New("mail: the log mailer needs a logger")
	}
	if _, err := parseAddress("from", from); err != nil {
		return nil, err
	}
	return &Log{logger: logger, from: from}, nil
}

// Send logs that msg would have been sent.
func (l *Log) Send(ctx context.Context, msg Message) error {
	if _, _, err := build(l.from, msg, time.Now()); err != nil {
		return err
	}
	l.logger.InfoContext(ctx, "email not sent: log mailer", "to", msg.To, "subject", msg.Subject)
	return nil
}
