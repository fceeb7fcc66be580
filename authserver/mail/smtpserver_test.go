package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a self-signed certificate for "mail.test", "localhost" and 127.0.0.1, with its PEM
// written to a file for config.TLS.CAFile.
type testCA struct {
	cert    tls.Certificate
	pemFile string
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "latch test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"mail.test", "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testCA{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemFile: path}
}

// received is one message the server accepted.
type received struct {
	from     string
	to       []string
	data     string // with "\r\n" line ends turned into "\n" by the dot reader
	tls      bool
	authUser string
}

// smtpServer is a small SMTP server on 127.0.0.1 for tests: EHLO, STARTTLS, AUTH PLAIN, MAIL,
// RCPT, DATA, RSET, NOOP, QUIT. It is strict where the client must be correct (AUTH only over
// TLS when TLS is configured, MAIL only after AUTH when credentials are set) and records what
// it saw.
type smtpServer struct {
	addr        string
	tls         *tls.Config // nil: no TLS at all
	implicitTLS bool
	startTLS    bool   // offer STARTTLS (when not implicit)
	user, pass  string // require AUTH PLAIN with these when user != ""
	// failMail makes the next n MAIL commands fail with a temporary 451.
	failMail atomic.Int32
	// silent accepts connections and never greets (for timeouts).
	silent bool

	mailAttempts atomic.Int32
	authAttempts atomic.Int32

	mu   sync.Mutex
	msgs []received
	ln   net.Listener
	wg   sync.WaitGroup
}

func (s *smtpServer) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.addr = ln.Addr().String()
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
}

func (s *smtpServer) port(t *testing.T) int {
	t.Helper()
	_, p, err := net.SplitHostPort(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	// Bound every session so a test whose client misbehaves cannot hang the suite.
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if s.silent {
		io.Copy(io.Discard, conn)
		return
	}
	secure := false
	if s.implicitTLS {
		tc := tls.Server(conn, s.tls)
		if err := tc.Handshake(); err != nil {
			return
		}
		conn, secure = tc, true
	}
	tp := textproto.NewConn(conn)
	reply := func(format string, args ...any) bool { return tp.PrintfLine(format, args...) == nil }
	if !reply("220 latch-test ESMTP") {
		return
	}
	var (
		authUser string
		cur      *received
	)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ext := []string{"latch-test"}
			if s.startTLS && !secure {
				ext = append(ext, "STARTTLS")
			}
			if s.user != "" && (secure || s.tls == nil) {
				ext = append(ext, "AUTH PLAIN")
			}
			ext = append(ext, "8BITMIME")
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				reply("250%s%s", sep, e)
			}
		case "HELO":
			reply("250 latch-test")
		case "STARTTLS":
			if !s.startTLS || secure {
				reply("502 5.5.1 STARTTLS not available")
				continue
			}
			reply("220 2.0.0 ready")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			// RFC 3207: forget everything learned before TLS.
			conn, secure, authUser, cur = tc, true, "", nil
			tp = textproto.NewConn(conn)
		case "AUTH":
			s.authAttempts.Add(1)
			mech, initial, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") || s.user == "" {
				reply("504 5.5.4 unsupported mechanism")
				continue
			}
			if initial == "" {
				reply("334 ")
				if initial, err = tp.ReadLine(); err != nil {
					return
				}
			}
			raw, err := base64.StdEncoding.DecodeString(initial)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				reply("535 5.7.8 authentication credentials invalid")
				continue
			}
			authUser = parts[1]
			reply("235 2.7.0 authenticated")
		case "MAIL":
			s.mailAttempts.Add(1)
			if s.user != "" && authUser == "" {
				reply("530 5.7.0 authentication required")
				continue
			}
			if s.failMail.Add(-1) >= 0 {
				reply("451 4.3.0 try again later")
				continue
			}
			cur = &received{from: addrArg(arg, "FROM:"), tls: secure, authUser: authUser}
			reply("250 2.1.0 ok")
		case "RCPT":
			if cur == nil {
				reply("503 5.5.1 MAIL first")
				continue
			}
			cur.to = append(cur.to, addrArg(arg, "TO:"))
			reply("250 2.1.5 ok")
		case "DATA":
			if cur == nil || len(cur.to) == 0 {
				reply("503 5.5.1 RCPT first")
				continue
			}
			reply("354 end with <CRLF>.<CRLF>")
			b, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			cur.data = string(b)
			s.mu.Lock()
			s.msgs = append(s.msgs, *cur)
			s.mu.Unlock()
			cur = nil
			reply("250 2.0.0 queued")
		case "RSET":
			cur = nil
			reply("250 2.0.0 ok")
		case "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("500 5.5.2 unknown command")
		}
	}
}

// addrArg extracts the address from "FROM:<a@b> BODY=8BITMIME" or "TO:<a@b>".
func addrArg(arg, prefix string) string {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return ""
	}
	path, _, _ := strings.Cut(arg[len(prefix):], " ")
	return strings.TrimSuffix(strings.TrimPrefix(path, "<"), ">")
}

// writeSecret writes a file for a file-backed config.Secret, with the trailing newline
// a mounted Secret often has.
func writeSecret(t *testing.T, name, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
