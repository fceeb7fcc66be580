package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// requestTimeout bounds one request of the load generator: a stuck server fails the request
// instead of stalling the run.
const requestTimeout = 30 * time.Second

// httpConn is one keep-alive HTTP/1.1 connection of the load generator. It writes prebuilt
// request bytes and parses just what it needs of the response (status, length, the headers a
// caller asks for), so the generator, which shares the machine's cores with the server it
// measures, spends as little of them as it can. net/http's client costs several times more
// per request, and that would be taken from the server.
type httpConn struct {
	addr  string
	local *net.TCPAddr // source address to bind, nil for any
	c     net.Conn
	br    *bufio.Reader
}

func newHTTPConn(addr string, local *net.TCPAddr) *httpConn {
	return &httpConn{addr: addr, local: local}
}

// errStatus is a response that is not 2xx.
type errStatus int

func (e errStatus) Error() string { return "HTTP status " + strconv.Itoa(int(e)) }

// roundTrip sends req (a complete HTTP/1.1 request) and reads the response, calling header
// for each response header (the slices are valid during the call only). A non-2xx status is
// errStatus; the connection stays usable unless the server closes it.
func (h *httpConn) roundTrip(req []byte, header func(key, value []byte)) error {
	if h.c == nil {
		d := net.Dialer{Timeout: 10 * time.Second}
		if h.local != nil {
			d.LocalAddr = h.local
		}
		c, err := d.Dial("tcp", h.addr)
		if err != nil {
			return err
		}
		h.c = c
		if h.br == nil {
			h.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			h.br.Reset(c)
		}
	}
	_ = h.c.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := h.c.Write(req); err != nil {
		h.close()
		return err
	}
	status, keep, err := h.readResponse(header)
	if err != nil || !keep {
		h.close()
	}
	if err != nil {
		return err
	}
	if status < 200 || status > 299 {
		return errStatus(status)
	}
	return nil
}

func (h *httpConn) close() {
	if h.c != nil {
		_ = h.c.Close()
		h.c = nil
	}
}

var (
	hdrContentLength    = []byte("content-length")
	hdrTransferEncoding = []byte("transfer-encoding")
	hdrConnection       = []byte("connection")
)

// readResponse reads one response: status line, headers, and a Content-Length or chunked
// body, which it discards. keep is false when the server closes the connection after it.
func (h *httpConn) readResponse(header func(key, value []byte)) (status int, keep bool, err error) {
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		return 0, false, fmt.Errorf("status line: %w", err)
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	keep = true
	length, chunked := int64(-1), false
	for {
		line, err = h.br.ReadSlice('\n')
		if err != nil {
			return 0, false, fmt.Errorf("header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("malformed header %q", line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, hdrContentLength):
			if length, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				return 0, false, fmt.Errorf("content-length %q", v)
			}
		case bytes.EqualFold(k, hdrTransferEncoding):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, hdrConnection):
			keep = !bytes.EqualFold(v, []byte("close"))
		}
		if header != nil {
			header(k, v)
		}
	}
	switch {
	case chunked:
		err = h.discardChunked()
	case length > 0:
		_, err = h.br.Discard(int(length))
	case length < 0 && status != 204 && status != 304:
		// No length: the body runs to the end of the connection.
		_, err = io.Copy(io.Discard, h.br)
		keep = false
	}
	return status, keep, err
}

func (h *httpConn) discardChunked() error {
	for {
		line, err := h.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		sizeText, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		size, err := strconv.ParseInt(string(sizeText), 16, 64)
		if err != nil {
			return fmt.Errorf("chunk size %q", line)
		}
		if size == 0 {
			// Trailers, then the blank line.
			for {
				line, err = h.br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := h.br.Discard(int(size) + 2); err != nil {
			return err
		}
	}
}
