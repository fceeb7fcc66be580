package mail

import (
	"bytes"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"sync"
	"testing"
)

// parsed is a delivered message taken apart the way a mail client would.
type parsed struct {
	header mail.Header
	text   string
	html   string
}

// parseMessage reads an RFC 5322 message with a text/plain body or a multipart/alternative of
// text/plain and text/html, decoding quoted-printable. Line ends are normalized to "\n".
func parseMessage(t *testing.T, data string) parsed {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, data)
	}
	p := parsed{header: m.Header}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	switch mediaType {
	case "text/plain":
		if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Fatalf("Content-Transfer-Encoding = %q", cte)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
		if err != nil {
			t.Fatal(err)
		}
		p.text = normalize(string(b))
	case "multipart/alternative":
		mr := multipart.NewReader(m.Body, params["boundary"])
		var types []string
		for {
			part, err := mr.NextPart() // decodes quoted-printable itself
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			b, err := io.ReadAll(part)
			if err != nil {
				t.Fatal(err)
			}
			ct := part.Header.Get("Content-Type")
			types = append(types, ct)
			switch ct {
			case "text/plain; charset=utf-8":
				p.text = normalize(string(b))
			case "text/html; charset=utf-8":
				p.html = normalize(string(b))
			}
		}
		if len(types) != 2 || !strings.HasPrefix(types[0], "text/plain") || !strings.HasPrefix(types[1], "text/html") {
			t.Fatalf("parts %q, want text/plain then text/html", types)
		}
	default:
		t.Fatalf("Content-Type %q", mediaType)
	}
	return p
}

func normalize(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// logBuffer is a concurrency-safe sink for a test logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}
