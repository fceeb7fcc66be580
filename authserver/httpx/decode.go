package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"unicode/utf8"
)

// The decoders' errors. Each maps to one status (StatusOf); messages never repeat the body.
var (
	// ErrBodyTooLarge: the body is longer than the limit (413).
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrBodyTimeout: the client did not send its body in time (408).
	ErrBodyTimeout = errors.New("request body not received in time")
	// ErrMalformed: the body is not what the route accepts (400).
	ErrMalformed = errors.New("malformed request body")
)

// MaxFormFields bounds the fields of a form body: no dialect takes more than a handful.
const MaxFormFields = 64

// WriteBodyError answers a request whose body the decoders refused, in the dialect's error
// shape (write), with StatusOf(err) and the decoder's reason. A body too slow (408) or too large
// (413) also ends the connection: the rest is not coming, or not wanted.
func WriteBodyError(w http.ResponseWriter, r *http.Request, err error, write ErrorWriter) {
	status := StatusOf(err)
	if status == http.StatusRequestTimeout || status == http.StatusRequestEntityTooLarge {
		w.Header().Set("Connection", "close")
	}
	write(w, r, status, err.Error())
}

// StatusOf maps a decoder error to its HTTP status: 413, 408, 400, or 500 for anything else.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBodyTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// ReadBody reads the whole body of r, at most limit bytes (MaxBodyBytes when limit ≤ 0).
// A body over the limit is ErrBodyTooLarge, a read past the request's read deadline is
// ErrBodyTimeout, and a body cut short is ErrMalformed.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = MaxBodyBytes
	}
	if r.ContentLength > limit {
		return nil, ErrBodyTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, ErrBodyTooLarge
	case isTimeout(err):
		return nil, ErrBodyTimeout
	case err != nil:
		return nil, fmt.Errorf("%w: reading the body failed", ErrMalformed)
	case int64(len(b)) > limit:
		return nil, ErrBodyTooLarge
	}
	return b, nil
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// DecodeJSON reads r's body (ReadBody with MaxBodyBytes) and decodes it with ParseJSON.
func DecodeJSON(r *http.Request, dst any) error {
	b, err := ReadBody(r, MaxBodyBytes)
	if err != nil {
		return err
	}
	return ParseJSON(b, dst)
}

// ParseJSON decodes one JSON object into dst, a pointer to a struct. Unknown fields are
// ignored (clients send extra fields, devise's clients especially); everything else is strict:
// the body must be valid UTF-8 (encoding/json would otherwise turn bad bytes into U+FFFD and
// a password into a different one), a single object, with fields of the right types and
// nothing but whitespace after it. Errors wrap ErrMalformed and name the offending field or
// byte offset, never the content.
func ParseJSON(data []byte, dst any) error {
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: the body is not valid UTF-8", ErrMalformed)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: the body is empty", ErrMalformed)
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("%w: the body must be a JSON object", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(dst); err != nil {
		return describeJSONError(err)
	}
	// Token reads past whitespace only; anything else (a second value, garbage) is an error.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: unexpected data after the JSON object", ErrMalformed)
	}
	return nil
}

func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%w: invalid JSON at byte %d", ErrMalformed, syn.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Errorf("%w: field %q has the wrong type", ErrMalformed, typ.Field)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the JSON object is incomplete", ErrMalformed)
	}
	return fmt.Errorf("%w: invalid JSON", ErrMalformed)
}

// DecodeForm reads r's body (ReadBody with MaxBodyBytes) and parses it with ParseForm.
func DecodeForm(r *http.Request) (url.Values, error) {
	b, err := ReadBody(r, MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	return ParseForm(b)
}

// ParseForm parses an application/x-www-form-urlencoded body strictly: valid escapes only, no
// ';' separators, at most MaxFormFields fields, and every decoded name and value valid UTF-8.
// Errors wrap ErrMalformed and never repeat the content.
func ParseForm(data []byte) (url.Values, error) {
	if n := bytes.Count(data, []byte("&")) + 1; n > MaxFormFields {
		return nil, fmt.Errorf("%w: more than %d form fields", ErrMalformed, MaxFormFields)
	}
	v, err := url.ParseQuery(string(data))
	if err != nil {
		return nil, fmt.Errorf("%w: invalid form encoding", ErrMalformed)
	}
	for k, vs := range v {
		if !utf8.ValidString(k) {
			return nil, fmt.Errorf("%w: a field name is not valid UTF-8", ErrMalformed)
		}
		for _, s := range vs {
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("%w: a field value is not valid UTF-8", ErrMalformed)
			}
		}
	}
	return v, nil
}
