package reactauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	"github.com/latchauth/latch/authserver/httpx"
)

// postRequest is the body of POST {prefix}: authenticate carries username and password,
// resume nothing (the cookie is the credential).
type postRequest struct {
	Type     string `json:"type"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// parsePost decodes a POST body, JSON or form-encoded as contentType and the body say (see
// bodyKind). Errors wrap httpx.ErrMalformed and never repeat the content.
func parsePost(contentType string, body []byte) (postRequest, error) {
	var req postRequest
	switch bodyKind(contentType, body) {
	case kindJSON:
		if err := httpx.ParseJSON(body, &req); err != nil {
			return postRequest{}, err
		}
		return req, nil
	case kindOther:
		return postRequest{}, fmt.Errorf("%w: the content type is neither a form nor JSON", httpx.ErrMalformed)
	}
	v, err := httpx.ParseForm(body)
	if err != nil {
		return postRequest{}, err
	}
	for name, dst := range map[string]*string{"type": &req.Type, "username": &req.Username, "password": &req.Password} {
		switch vs := v[name]; len(vs) {
		case 0:
		case 1:
			*dst = vs[0]
		default:
			return postRequest{}, fmt.Errorf("%w: field %q is given more than once", httpx.ErrMalformed, name)
		}
	}
	return req, nil
}

// The ways a POST body is read.
const (
	kindForm = iota
	kindJSON
	// kindOther is a media type the dialect does not read (multipart, XML, ...): malformed.
	kindOther
)

// bodyKind says how a body is to be read: as JSON when its media type says so, or when it has
// none (or text/plain, what fetch sends for a string body) and begins with '{'; as a form when
// its media type says so or, with none or text/plain, otherwise. A form body cannot begin with
// '{' unless it is malformed anyway (qs escapes braces). A Content-Type that does not parse
// counts as none.
func bodyKind(contentType string, body []byte) int {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = ""
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return kindJSON
	case mt == "application/x-www-form-urlencoded":
		return kindForm
	case mt == "" || mt == "text/plain":
		if bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
			return kindJSON
		}
		return kindForm
	}
	return kindOther
}

// message is one socket request, in either form.
type message struct {
	// id is the Id enveloper's message id as it goes back into the reply (a JSON string or
	// number); nil for the bare form.
	id      json.RawMessage
	Type    string
	Session string
	// UserID is user.id; empty when user or its id is absent.
	UserID string
}

// parseMessage decodes a socket message. Even when it fails, the message it returns knows
// the form to reply in, whenever an id could be recovered: a malformed request in an
// envelope gets its failure in the envelope, so the client's promise resolves.
func parseMessage(msg []byte) (message, error) {
	var m message
	var env struct {
		ID   json.RawMessage `json:"id"`
		Data json.RawMessage `json:"data"`
	}
	if err := httpx.ParseJSON(msg, &env); err != nil {
		return m, err
	}
	body := msg
	if len(env.ID) > 0 && !isNull(env.ID) {
		id, err := canonicalID(env.ID)
		if err != nil {
			return m, err
		}
		m.id = id
		if len(env.Data) == 0 || env.Data[0] != '{' {
			return m, fmt.Errorf("%w: data must be an object", httpx.ErrMalformed)
		}
		body = env.Data
	}
	var req struct {
		Type    string          `json:"type"`
		Session string          `json:"session"`
		User    json.RawMessage `json:"user"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return m, fmt.Errorf("%w: a field has the wrong type", httpx.ErrMalformed)
	}
	m.Type, m.Session = req.Type, req.Session
	if len(req.User) > 0 && !isNull(req.User) {
		var u struct {
			ID string `json:"id"`
		}
		if req.User[0] != '{' || json.Unmarshal(req.User, &u) != nil {
			return m, fmt.Errorf("%w: user must be an object with a string id", httpx.ErrMalformed)
		}
		m.UserID = u.ID
	}
	return m, nil
}

// maxIDLen bounds the id echoed back: the client's are 36-character UUIDs.
const maxIDLen = 128

// canonicalID re-encodes an envelope id: a string (re-encoded, so the reply holds no escape
// the client did not send in the same meaning) or a number (as given; JSON numbers have one
// meaning). Anything else cannot be matched by the client and is refused.
func canonicalID(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) > maxIDLen+2 {
		return nil, fmt.Errorf("%w: id is too long", httpx.ErrMalformed)
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		b, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("%w: id: %w", httpx.ErrMalformed, err)
		}
		return b, nil
	}
	var n json.Number
	if (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) && json.Unmarshal(raw, &n) == nil {
		return json.RawMessage(n.String()), nil
	}
	return nil, fmt.Errorf("%w: id must be a string or a number", httpx.ErrMalformed)
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// The reply bodies. Replies are built by concatenation: the only variable part is an id that
// canonicalID has already encoded.
const (
	replyTrue  = `{"success":true}`
	replyFalse = `{"success":false}`
)

// reply is the message's reply in its own form.
func (m message) reply(success bool) []byte {
	data := replyFalse
	if success {
		data = replyTrue
	}
	if m.id == nil {
		return []byte(data)
	}
	b := make([]byte, 0, len(m.id)+len(data)+16)
	b = append(b, `{"id":`...)
	b = append(b, m.id...)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}
