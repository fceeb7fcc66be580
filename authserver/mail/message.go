package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on what Build accepts. With them every header line stays within RFC 5322's 998
// characters without folding, and a template gone wrong cannot build a huge message.
const (
	MaxSubjectLen = 200     // bytes, before RFC 2047 encoding (which can triple it)
	MaxAddressLen = 320     // bytes: RFC 5321's 64-byte local part, '@', 255-byte domain
	MaxBodyLen    = 1 << 20 // bytes, per part
)

// envelope is what SMTP needs besides the message bytes.
type envelope struct {
	from, to string // bare addresses for MAIL FROM and RCPT TO
}

// Build renders msg as an RFC 5322 message from the address from, dated date: headers From,
// To, Subject, Date, Message-ID and MIME-Version, then a text/plain part, or a
// multipart/alternative of text/plain and text/html, each UTF-8 and quoted-printable. Lines end
// in CRLF. Every header value is checked for control characters, so no input can add a header.
func Build(from string, msg Message, date time.Time) ([]byte, error) {
	b, _, err := build(from, msg, date)
	return b, err
}

func build(from string, msg Message, date time.Time) ([]byte, envelope, error) {
	var env envelope
	sender, err := parseAddress("from", from)
	if err != nil {
		return nil, env, err
	}
	rcpt, err := msg.validate()
	if err != nil {
		return nil, env, err
	}
	id, err := messageID(sender.Address)
	if err != nil {
		return nil, env, err
	}

	var buf bytes.Buffer
	header := func(name, value string) { buf.WriteString(name + ": " + value + "\r\n") }
	header("From", sender.String())
	header("To", rcpt.String())
	header("Subject", encodeText(msg.Subject))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", id)
	header("MIME-Version", "1.0")

	if msg.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		buf.WriteString("\r\n")
		if err := writeQP(&buf, msg.Text); err != nil {
			return nil, env, err
		}
		return buf.Bytes(), envelope{from: sender.Address, to: rcpt.Address}, nil
	}

	// Both parts are quoted-printable, whose output never contains "--" at a line start
	// followed by the writer's random 60-character boundary, so the boundary cannot collide.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	// Folded, since the 60-character boundary would make the line longer than 78.
	header("Content-Type", "multipart/alternative;\r\n boundary="+mw.Boundary())
	buf.WriteString("\r\n")
	// Order matters: clients show the last alternative they understand, so HTML goes last.
	for _, part := range []struct{ contentType, content string }{
		{"text/plain; charset=utf-8", msg.Text},
		{"text/html; charset=utf-8", msg.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, env, fmt.Errorf("build message: %w", err)
		}
		if err := writeQP(w, part.content); err != nil {
			return nil, env, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, env, fmt.Errorf("build message: %w", err)
	}
	buf.Write(body.Bytes())
	return buf.Bytes(), envelope{from: sender.Address, to: rcpt.Address}, nil
}

// encodeText makes s safe as an unstructured header value (RFC 2047). Printable ASCII is kept
// as is unless it contains "=?", which a client would try to decode as an encoded-word;
// anything else becomes base64 encoded-words of at most 39 bytes each (complete runes),
// folded one per line, so every line stays under 78 characters and clients join the words
// without the folding whitespace.
func encodeText(s string) string {
	plain := !strings.Contains(s, "=?")
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= ' ' && s[i] <= '~' || s[i] == '\t'
	}
	if plain {
		return s
	}
	const chunk = 39
	var words []string
	for len(s) > 0 {
		n := min(chunk, len(s))
		for n < len(s) && n > 1 && !utf8.RuneStart(s[n]) {
			n-- // never split a rune; n stays ≥ 1 so the loop always advances
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, "\r\n ")
}

// validate checks everything about msg that Build would refuse, and returns its recipient.
func (msg Message) validate() (*mail.Address, error) {
	rcpt, err := parseAddress("to", msg.To)
	if err != nil {
		return nil, err
	}
	if len(msg.Subject) > MaxSubjectLen {
		return nil, invalid("subject is longer than %d bytes", MaxSubjectLen)
	}
	if err := checkHeaderValue("subject", msg.Subject); err != nil {
		return nil, err
	}
	if msg.Text == "" {
		return nil, invalid("the text part is empty")
	}
	if len(msg.Text) > MaxBodyLen || len(msg.HTML) > MaxBodyLen {
		return nil, invalid("a part is longer than %d bytes", MaxBodyLen)
	}
	return rcpt, nil
}

// writeQP writes s quoted-printable: lines wrapped at 76 characters, non-ASCII escaped, and
// "\n" turned into CRLF, so template authors need not care about SMTP's line rules.
func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return fmt.Errorf("build message: %w", err)
	}
	if err := qp.Close(); err != nil {
		return fmt.Errorf("build message: %w", err)
	}
	return nil
}

// parseAddress accepts one RFC 5322 address. The explicit control-character check comes first
// so that header safety does not rest on the parser's corner cases.
func parseAddress(field, s string) (*mail.Address, error) {
	if len(s) > MaxAddressLen+200 { // room for a display name
		return nil, invalid("%s address is too long", field)
	}
	if err := checkHeaderValue(field, s); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s address: %w", ErrInvalidMessage, field, err)
	}
	if len(a.Address) > MaxAddressLen {
		return nil, invalid("%s address is too long", field)
	}
	// The bare address goes on the SMTP command line, so it gets the same check.
	if err := checkHeaderValue(field, a.Address); err != nil {
		return nil, err
	}
	if err := checkHeaderValue(field, a.Name); err != nil {
		return nil, err
	}
	return a, nil
}

// checkHeaderValue refuses CR, LF and every other control character but tab: a CR or LF would
// end the header and let the rest of the value inject headers or a body. It also refuses
// invalid UTF-8, the charset every header and part declares.
func checkHeaderValue(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }); i >= 0 {
		return invalid("%s contains a control character", field)
	}
	return nil
}

// messageID makes a globally unique Message-ID under the sender's domain.
func messageID(sender string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("build message: message id: %w", err)
	}
	domain := sender[strings.LastIndexByte(sender, '@')+1:]
	return "<" + hex.EncodeToString(b[:]) + "@" + domain + ">", nil
}
