package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// password is every chaos user's password.
const password = "chaos-password-1"

// keyTokenClient is the client name keyToken sessions are issued to (the realm does not
// require registered clients).
const keyTokenClient = "chaos-app"

// dialect is one of the five wire dialects (docs/protocol.md).
type dialect uint8

const (
	dAccount dialect = iota
	dReactAuth
	dDevise
	dBearer
	dKeyToken
	numDialects
)

var dialectNames = [numDialects]string{"account", "reactAuth", "deviseToken", "bearerToken", "keyToken"}

func (d dialect) String() string { return dialectNames[d] }

// outcome is what one request came to, from the client's side.
type outcome uint8

const (
	oOK        outcome = iota
	oRefused           // 401, or the dialect's equivalent (reactAuth success:false, devise sign_out 404)
	oServer            // 5xx: the dialect's internal error
	oTransport         // no answer: refused connection, reset, timeout
	oOther             // any other status: a harness or server bug, reported as such
)

func (o outcome) String() string {
	return [...]string{"ok", "refused", "5xx", "transport", "other"}[o]
}

// creds are the credentials of one session in its dialect. A devise session's access token
// and a keyToken session's secret and refresh change as the server rotates them; the client
// keeps the latest, as j-toker and a keyToken app do.
type creds struct {
	d       dialect
	userID  string
	token   string // account and reactAuth cookie, bearerToken token
	access  string // deviseToken access-token, client, uid
	client  string
	uid     string
	key     string // keyToken key, secret (the access token) and refresh
	secret  string
	refresh string
}

// api speaks the dialects to one replica at a time. Every request is bounded by the HTTP
// client's timeout.
type api struct {
	hc *http.Client
}

func newAPI(timeout time.Duration, conns int) *api {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 4 * conns
	tr.MaxIdleConnsPerHost = 2 * conns
	tr.IdleConnTimeout = 30 * time.Second
	return &api{hc: &http.Client{Timeout: timeout, Transport: tr}}
}

type reply struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (a *api) do(ctx context.Context, method, u string, body io.Reader, ctype string, hdr map[string]string) reply {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return reply{err: err}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return reply{status: resp.StatusCode, err: err}
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a *api) json(ctx context.Context, method, u string, v any, hdr map[string]string) reply {
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return reply{err: err}
		}
		body = bytes.NewReader(b)
	}
	return a.do(ctx, method, u, body, "application/json", hdr)
}

// classify maps a reply to an outcome: 2xx ok, 401 refused, 5xx server error, no answer
// transport error.
func classify(r reply) outcome {
	switch {
	case r.err != nil:
		return oTransport
	case r.status/100 == 2:
		return oOK
	case r.status == http.StatusUnauthorized:
		return oRefused
	case r.status >= 500:
		return oServer
	}
	return oOther
}

func cookieOf(h http.Header, name string) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// userOfToken is the user ID part of a composite session token (userID.sessionID.secret).
func userOfToken(tok string) string {
	u, _, _ := strings.Cut(tok, ".")
	return u
}

const cookieName = "latch_session"

// register creates login through the account dialect (every dialect then signs it in).
func (a *api) register(ctx context.Context, base, login string) error {
	r := a.json(ctx, http.MethodPost, base+"/account/register", map[string]string{
		"login": login, "password": password, "firstName": "Chaos", "lastName": "Client",
	}, nil)
	if o := classify(r); o != oOK {
		return fmt.Errorf("register %s: %s %d %v %s", login, o, r.status, r.err, r.body)
	}
	return nil
}

// login opens a session of login in dialect d.
func (a *api) login(ctx context.Context, base string, d dialect, login string) (creds, outcome, error) {
	c := creds{d: d}
	switch d {
	case dAccount:
		r := a.json(ctx, http.MethodPost, base+"/account/login", map[string]string{"login": login, "password": password}, nil)
		if o := classify(r); o != oOK {
			return c, o, replyErr(r)
		}
		c.token = cookieOf(r.header, cookieName)
	case dReactAuth:
		form := url.Values{"type": {"fantaptik/react-auth/authenticate"}, "username": {login}, "password": {password}}
		r := a.do(ctx, http.MethodPost, base+"/react-auth", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", nil)
		if o := classify(r); o != oOK {
			return c, o, replyErr(r)
		}
		var v struct {
			Success bool   `json:"success"`
			Session string `json:"session"`
		}
		if err := json.Unmarshal(r.body, &v); err != nil {
			return c, oOther, err
		}
		if !v.Success {
			return c, oRefused, errors.New("success:false")
		}
		c.token = v.Session
	case dDevise:
		r := a.json(ctx, http.MethodPost, base+"/auth/sign_in", map[string]string{"email": login, "password": password}, nil)
		if o := classify(r); o != oOK {
			return c, o, replyErr(r)
		}
		c.access, c.client, c.uid = r.header.Get("access-token"), r.header.Get("client"), r.header.Get("uid")
	case dBearer:
		r := a.json(ctx, http.MethodPost, base+"/api/auth", map[string]string{"login": login, "password": password}, nil)
		if o := classify(r); o != oOK {
			return c, o, replyErr(r)
		}
		var v struct {
			Content struct {
				Token string `json:"token"`
			} `json:"content"`
		}
		if err := json.Unmarshal(r.body, &v); err != nil {
			return c, oOther, err
		}
		c.token = v.Content.Token
	case dKeyToken:
		r := a.json(ctx, http.MethodPost, base+"/users/token", map[string]string{"client": keyTokenClient, "email": login, "password": password}, nil)
		if o := classify(r); o != oOK {
			return c, o, replyErr(r)
		}
		var v struct{ Key, Token, Refresh string }
		if err := json.Unmarshal(r.body, &v); err != nil {
			return c, oOther, err
		}
		c.key, c.secret, c.refresh = v.Key, v.Token, v.Refresh
	}
	if !c.complete() {
		return c, oOther, fmt.Errorf("%s login answered success without credentials", d)
	}
	if c.token != "" {
		c.userID = userOfToken(c.token)
	}
	return c, oOK, nil
}

func (c creds) complete() bool {
	switch c.d {
	case dDevise:
		return c.access != "" && c.client != "" && c.uid != ""
	case dKeyToken:
		return c.key != "" && c.secret != "" && c.refresh != ""
	}
	return c.token != ""
}

func replyErr(r reply) error {
	if r.err != nil {
		return r.err
	}
	return fmt.Errorf("HTTP %d: %.200s", r.status, bytes.TrimSpace(r.body))
}

func (c creds) deviseHeaders() map[string]string {
	return map[string]string{"access-token": c.access, "client": c.client, "uid": c.uid, "token-type": "Bearer"}
}

func (c creds) basic() map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(c.key+":"+c.secret))}
}

// check makes the dialect's authenticated request with c. A deviseToken check is
// validate_token, which may rotate the token: the new one is written back into c.
func (a *api) check(ctx context.Context, base string, c *creds) (outcome, error) {
	var r reply
	switch c.d {
	case dAccount:
		r = a.do(ctx, http.MethodGet, base+"/account/session", nil, "", map[string]string{"Cookie": cookieName + "=" + c.token})
	case dReactAuth:
		form := url.Values{"type": {"fantaptik/react-auth/resume"}}
		r = a.do(ctx, http.MethodPost, base+"/react-auth", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded",
			map[string]string{"Cookie": cookieName + "=" + c.token})
		if classify(r) == oOK {
			var v struct {
				Success bool `json:"success"`
			}
			if err := json.Unmarshal(r.body, &v); err != nil {
				return oOther, err
			}
			if !v.Success {
				return oRefused, nil
			}
		}
	case dDevise:
		r = a.do(ctx, http.MethodGet, base+"/auth/validate_token", nil, "", c.deviseHeaders())
		if classify(r) == oOK {
			if t := r.header.Get("access-token"); t != "" {
				c.access = t
			}
		}
	case dBearer:
		r = a.do(ctx, http.MethodGet, base+"/api/auth", nil, "", map[string]string{"Authorization": "Bearer " + c.token})
	case dKeyToken:
		r = a.do(ctx, http.MethodGet, base+"/users", nil, "", c.basic())
	}
	o := classify(r)
	if o == oOK || o == oRefused {
		return o, nil
	}
	return o, replyErr(r)
}

// logout ends the session c. reactAuth has no HTTP logout (its client ends a session over
// the socket); its session, like every dialect's, is a composite token, and the account
// dialect's logout ends any session the cookie names — "logged out elsewhere".
func (a *api) logout(ctx context.Context, base string, c creds) (outcome, error) {
	var r reply
	switch c.d {
	case dAccount, dReactAuth:
		r = a.do(ctx, http.MethodPost, base+"/account/logout", nil, "", map[string]string{"Cookie": cookieName + "=" + c.token})
	case dDevise:
		r = a.do(ctx, http.MethodDelete, base+"/auth/sign_out", nil, "", c.deviseHeaders())
		if r.err == nil && r.status == http.StatusNotFound {
			return oRefused, nil
		}
	case dBearer:
		r = a.do(ctx, http.MethodDelete, base+"/api/auth", nil, "", map[string]string{"Authorization": "Bearer " + c.token})
	case dKeyToken:
		r = a.json(ctx, http.MethodDelete, base+"/users/token", map[string]string{"client": keyTokenClient}, c.basic())
	}
	o := classify(r)
	if o == oOK || o == oRefused {
		return o, nil
	}
	return o, replyErr(r)
}

// refresh exchanges a keyToken session's refresh secret; on success c holds the new
// secret and refresh, and the old access token is ended.
func (a *api) refresh(ctx context.Context, base string, c *creds) (outcome, error) {
	r := a.json(ctx, http.MethodPost, base+"/users/token/refresh", map[string]string{"client": keyTokenClient, "key": c.key, "refresh": c.refresh}, nil)
	o := classify(r)
	if o != oOK {
		if o == oRefused {
			return o, nil
		}
		return o, replyErr(r)
	}
	var v struct{ Key, Token, Refresh string }
	if err := json.Unmarshal(r.body, &v); err != nil || v.Token == "" || v.Refresh == "" {
		return oOther, fmt.Errorf("refresh answered %s", r.body)
	}
	if v.Key != "" {
		c.key = v.Key
	}
	c.secret, c.refresh = v.Token, v.Refresh
	return oOK, nil
}
