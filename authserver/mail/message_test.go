package mail

import (
	"errors"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"
)

var testDate = time.Date(2026, 3, 14, 15, 9, 26, 0, time.FixedZone("", 3600))

func TestBuildMultipartAlternative(t *testing.T) {
	msg := Message{
		To:      "Ada Lovelace <ada@example.com>",
		Subject: "Réinitialisez votre mot de passe",
		Text:    "Hello Ada,\n\nOpen https://app.example/reset?uid=u&t=t\n",
		HTML:    "<p>Hello Ada,</p>\n<p><a href=\"https://app.example/reset?uid=u&amp;t=t\">Reset</a></p>\n",
	}
	raw, err := Build("Latch <no-reply@latch.test>", msg, testDate)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\r\n"), "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i, line)
		}
		if len(line) > 78 {
			t.Errorf("line %d is %d characters: %q", i, len(line), line)
		}
	}
	p := parseMessage(t, string(raw))
	h := p.header
	if got := h.Get("From"); got != `"Latch" <no-reply@latch.test>` {
		t.Errorf("From = %q", got)
	}
	if got := h.Get("To"); got != `"Ada Lovelace" <ada@example.com>` {
		t.Errorf("To = %q", got)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != msg.Subject {
		t.Errorf("Subject decodes to %q, %v; want %q", subject, err, msg.Subject)
	}
	if !strings.HasPrefix(h.Get("Subject"), "=?utf-8?b?") {
		t.Errorf("non-ASCII Subject is not RFC 2047 encoded: %q", h.Get("Subject"))
	}
	if date, err := h.Date(); err != nil || !date.Equal(testDate) {
		t.Errorf("Date = %v, %v; want %v", date, err, testDate)
	}
	id := h.Get("Message-ID")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@latch.test>") || len(id) != len("<@latch.test>")+32 {
		t.Errorf("Message-ID = %q", id)
	}
	if got := h.Get("MIME-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q", got)
	}
	if p.text != msg.Text || p.html != msg.HTML {
		t.Errorf("parts = %q / %q, want %q / %q", p.text, p.html, msg.Text, msg.HTML)
	}

	again, err := Build("Latch <no-reply@latch.test>", msg, testDate)
	if err != nil {
		t.Fatal(err)
	}
	if parseMessage(t, string(again)).header.Get("Message-ID") == id {
		t.Error("two messages got the same Message-ID")
	}
}

func TestBuildTextOnlyAndLongLines(t *testing.T) {
	long := strings.Repeat("0123456789", 30) + "\n. a line with a leading dot\n"
	raw, err := Build("no-reply@latch.test", Message{To: "ada@example.com", Subject: "Hi", Text: long}, testDate)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line of %d characters: quoted-printable should wrap at 76", len(line))
		}
	}
	p := parseMessage(t, string(raw))
	if p.text != long {
		t.Errorf("text = %q, want %q", p.text, long)
	}
}

func TestBuildRefusesHeaderInjection(t *testing.T) {
	ok := Message{To: "ada@example.com", Subject: "Hello", Text: "body"}
	tests := map[string]struct {
		from string
		mod  func(*Message)
	}{
		"CRLF in To":            {"", func(m *Message) { m.To = "ada@example.com\r\nBcc: eve@example.com" }},
		"LF in To":              {"", func(m *Message) { m.To = "ada@example.com\nBcc: eve@example.com" }},
		"CR in To":              {"", func(m *Message) { m.To = "ada@example.com\rBcc: eve@example.com" }},
		"CRLF in quoted name":   {"", func(m *Message) { m.To = "\"Ada\r\nBcc: eve@example.com\" <ada@example.com>" }},
		"NUL in To":             {"", func(m *Message) { m.To = "ada\x00@example.com" }},
		"CRLF in Subject":       {"", func(m *Message) { m.Subject = "Hello\r\nBcc: eve@example.com" }},
		"LF in Subject":         {"", func(m *Message) { m.Subject = "Hello\n\n<html>" }},
		"DEL in Subject":        {"", func(m *Message) { m.Subject = "Hello\x7f" }},
		"CRLF in From":          {"no-reply@latch.test\r\nBcc: eve@example.com", nil},
		"two recipients":        {"", func(m *Message) { m.To = "ada@example.com, eve@example.com" }},
		"no recipient":          {"", func(m *Message) { m.To = "" }},
		"not an address":        {"", func(m *Message) { m.To = "ada" }},
		"subject too long":      {"", func(m *Message) { m.Subject = strings.Repeat("x", MaxSubjectLen+1) }},
		"address too long":      {"", func(m *Message) { m.To = strings.Repeat("a", 600) + "@example.com" }},
		"empty text":            {"", func(m *Message) { m.Text = "" }},
		"text too long":         {"", func(m *Message) { m.Text = strings.Repeat("x", MaxBodyLen+1) }},
		"html too long":         {"", func(m *Message) { m.HTML = strings.Repeat("x", MaxBodyLen+1) }},
		"invalid UTF-8 subject": {"", func(m *Message) { m.Subject = "caf\xe9" }},
		"group syntax smuggles": {"", func(m *Message) { m.To = "undisclosed:ada@example.com,eve@example.com;" }},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m := ok
			if tt.mod != nil {
				tt.mod(&m)
			}
			from := tt.from
			if from == "" {
				from = "no-reply@latch.test"
			}
			raw, err := Build(from, m, testDate)
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("Build = %v, want ErrInvalidMessage; built:\n%s", err, raw)
			}
			if !IsPermanent(err) {
				t.Error("an invalid message must not be retried")
			}
		})
	}
}

func TestEncodeText(t *testing.T) {
	tests := []struct {
		in     string
		plain  bool
		maxLen int // of each folded line
	}{
		{"Reset your acme password", true, 0},
		{"tab\tseparated", true, 0},
		{"looks =?encoded?= but is not", false, 75},
		{"Réinitialisez", false, 75},
		{strings.Repeat("é", 100), false, 75},
		{strings.Repeat("日本語", 22), false, 75},
		{"x" + strings.Repeat("🔑", 49), false, 75},
	}
	for _, tt := range tests {
		got := encodeText(tt.in)
		if (got == tt.in) != tt.plain {
			t.Errorf("encodeText(%q) = %q; plain %v", tt.in, got, tt.plain)
			continue
		}
		for _, line := range strings.Split(got, "\r\n") {
			if !tt.plain && len(line) > tt.maxLen {
				t.Errorf("encodeText(%q): line %q is longer than %d", tt.in, line, tt.maxLen)
			}
		}
		// What a client shows: the words decoded and the folding removed.
		dec, err := new(mime.WordDecoder).DecodeHeader(strings.ReplaceAll(got, "\r\n", ""))
		if err != nil || dec != tt.in {
			t.Errorf("encodeText(%q) decodes to %q, %v", tt.in, dec, err)
		}
	}
}

// FuzzBuild checks that no To, Subject or body can change the message's header set: whatever
// Build accepts parses back to exactly its own headers, with the recipient and subject intact.
func FuzzBuild(f *testing.F) {
	f.Add("ada@example.com", "Hello", "body\n", "")
	f.Add("Ada <ada@example.com>", "Réinitialiser", "line\r\n.\r\nmore", "<p>x</p>")
	f.Add("\"Ada\r\nBcc: x@y\" <ada@example.com>", "a\r\nb", "", "")
	f.Add("=?utf-8?q?Ada?= <ada@example.com>", "=?utf-8?q?x?=", "x", "y")
	f.Fuzz(func(t *testing.T, to, subject, text, html string) {
		msg := Message{To: to, Subject: subject, Text: text, HTML: html}
		raw, err := Build("no-reply@latch.test", msg, testDate)
		if err != nil {
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("error %v does not wrap ErrInvalidMessage", err)
			}
			return
		}
		m, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatalf("accepted %+v but the output does not parse: %v", msg, err)
		}
		want := map[string]bool{"From": true, "To": true, "Subject": true, "Date": true, "Message-Id": true,
			"Mime-Version": true, "Content-Type": true}
		if html == "" {
			want["Content-Transfer-Encoding"] = true
		}
		for k, v := range m.Header {
			if !want[k] || len(v) != 1 {
				t.Fatalf("header %q %q appeared in the output for %+v", k, v, msg)
			}
		}
		if len(m.Header) != len(want) {
			t.Fatalf("headers %v, want %v", m.Header, want)
		}
		in, _ := mail.ParseAddress(to)
		out, err := m.Header.AddressList("To")
		if err != nil || len(out) != 1 || out[0].Address != in.Address {
			t.Fatalf("To %q became %v (%v)", to, out, err)
		}
		got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil || got != subject && strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(subject), " ") {
			t.Fatalf("Subject %q became %q (%v)", subject, got, err)
		}
	})
}
