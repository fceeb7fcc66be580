package servertest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// maxMailSize bounds a message the mailbox accepts.
const maxMailSize = 4 << 20

// Mailbox is a minimal SMTP server on loopback (no TLS, no AUTH) that keeps every message it
// receives, so tests can read the reset and confirmation links the server sends.
type Mailbox struct {
	// Addr is the mailbox's host:port.
	Addr string

	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	mails  []Mail
	arrive chan struct{} // signalled on every new message
}

// Mail is one received message.
type Mail struct {
	From, To string
	Subject  string
	// Text is the decoded text/plain part.
	Text string
}

// linkRE finds a link carrying the user ID and the token, as mail.Link writes it.
var linkRE = regexp.MustCompile(`https?://\S+?[?&]uid=([A-Za-z0-9_-]+)&t=([A-Za-z0-9_-]+)`)

// Link returns the user ID and the token of the message's link.
func (m Mail) Link(t testing.TB) (uid, token string) {
	t.Helper()
	sub := linkRE.FindStringSubmatch(m.Text)
	if sub == nil {
		t.Fatalf("servertest: no uid/t link in the mail %q to %s:\n%s", m.Subject, m.To, m.Text)
	}
	return sub[1], sub[2]
}

// StartMailbox starts a mailbox, closed at cleanup.
func StartMailbox(t testing.TB) *Mailbox {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: mailbox: %v", err)
	}
	mb := &Mailbox{Addr: ln.Addr().String(), ln: ln, arrive: make(chan struct{}, 1)}
	mb.wg.Go(mb.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		mb.wg.Wait()
	})
	return mb
}

// Port returns the mailbox's port.
func (mb *Mailbox) Port() int { return mb.ln.Addr().(*net.TCPAddr).Port }

// Mails returns every message received so far.
func (mb *Mailbox) Mails() []Mail {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]Mail(nil), mb.mails...)
}

// Count returns the number of messages received by to.
func (mb *Mailbox) Count(to string) int {
	n := 0
	for _, m := range mb.Mails() {
		if strings.EqualFold(m.To, to) {
			n++
		}
	}
	return n
}

// Wait returns the n-th message (counting from 1) received by to, waiting up to 10 seconds.
func (mb *Mailbox) Wait(t testing.TB, to string, n int) Mail {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		seen := 0
		for _, m := range mb.Mails() {
			if strings.EqualFold(m.To, to) {
				if seen++; seen == n {
					return m
				}
			}
		}
		select {
		case <-mb.arrive:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("servertest: mail #%d to %s did not arrive; the mailbox holds %d messages", n, to, len(mb.Mails()))
		}
	}
}

func (mb *Mailbox) accept() {
	for {
		c, err := mb.ln.Accept()
		if err != nil {
			return
		}
		mb.wg.Go(func() { mb.serve(c) })
	}
}

// serve speaks just enough SMTP for net/smtp: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
func (mb *Mailbox) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(io.LimitReader(c, maxMailSize))
	reply := func(s string) bool {
		_, err := io.WriteString(c, s+"\r\n")
		return err == nil
	}
	if !reply("220 mailbox ESMTP") {
		return
	}
	var from, to string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			reply("250-mailbox")
			reply("250 8BITMIME")
		case strings.HasPrefix(cmd, "HELO"), cmd == "NOOP":
			reply("250 ok")
		case cmd == "RSET":
			from, to = "", ""
			reply("250 ok")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			from = addrOf(strings.TrimSpace(line)[len("MAIL FROM:"):])
			reply("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			to = addrOf(strings.TrimSpace(line)[len("RCPT TO:"):])
			reply("250 ok")
		case cmd == "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			data, err := readData(r)
			if err != nil {
				return
			}
			mb.store(from, to, data)
			reply("250 queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

// addrOf takes "<a@b> BODY=8BITMIME" to "a@b".
func addrOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '>'); strings.HasPrefix(s, "<") && i > 0 {
		return s[1:i]
	}
	return s
}

// readData reads a DATA section up to the lone dot, undoing dot-stuffing.
func readData(r *bufio.Reader) ([]byte, error) {
	var b bytes.Buffer
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line == ".\r\n" || line == ".\n" {
			return b.Bytes(), nil
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}

func (mb *Mailbox) store(from, to string, data []byte) {
	m := Mail{From: from, To: to}
	if msg, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		dec := new(mime.WordDecoder)
		if s, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
			m.Subject = s
		}
		if text, err := plainText(msg); err == nil {
			m.Text = text
		} else {
			m.Text = fmt.Sprintf("(undecodable: %v)\n%s", err, data)
		}
	}
	mb.mu.Lock()
	mb.mails = append(mb.mails, m)
	mb.mu.Unlock()
	select {
	case mb.arrive <- struct{}{}:
	default:
	}
}

// plainText returns the decoded text/plain part of a message, multipart or not.
func plainText(msg *mail.Message) (string, error) {
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			p, err := mr.NextPart() // decodes quoted-printable itself
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
				b, err := io.ReadAll(p)
				return string(b), err
			}
		}
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return "", err
	}
	if mt != "text/plain" {
		return "", errors.New("not a text/plain message: " + mt)
	}
	return string(b), nil
}
