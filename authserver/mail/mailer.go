package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"

	"github.com/latchauth/latch/authserver/config"
)

// Message is one email to one recipient. Text is required; HTML, when set, is sent beside it
// as a multipart/alternative message. The body carries one-time tokens: it is never logged.
type Message struct {
	// To is one address, bare ("ada@example.com") or with a name ("Ada <ada@example.com>").
	To      string
	Subject string
	Text    string
	HTML    string
}

// Mailer delivers messages. Send returns once the message is delivered to the next hop (or
// queued, for the Outbox) or has failed.
type Mailer interface {
	Send(ctx context.Context, msg Message) error
}

// ErrInvalidMessage is returned, wrapped, for a message that cannot be sent as given (an
// unparsable address, a control character in a header, an empty body). Retrying cannot help.
var ErrInvalidMessage = errors.New("invalid email message")

// New returns the mailer the config asks for: SMTP when email.smtp is set, otherwise the log
// mailer (development). It does not wrap it in an Outbox; the caller decides.
func New(c config.Email, logger *slog.Logger) (Mailer, error) {
	if c.SMTP == nil {
		return NewLog(logger, c.From)
	}
	return NewSMTP(*c.SMTP, c.From)
}

// IsPermanent reports whether err will recur however often the send is retried: an invalid
// message, or an SMTP 5xx reply (bad credentials, unknown recipient, message refused).
// Network failures, timeouts and 4xx replies are worth retrying.
func IsPermanent(err error) bool {
	if errors.Is(err, ErrInvalidMessage) {
		return true
	}
	var tp *textproto.Error
	return errors.As(err, &tp) && tp.Code >= 500 && tp.Code <= 599
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}
