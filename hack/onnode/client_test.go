package onnode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// The full sample realm's prefixes (config/samples/auth_v1alpha1_authrealm_full.yaml).
const (
	accountPrefix   = "/account"
	devisePrefix    = "/auth"
	reactAuthPrefix = "/react-auth"
)

// realmClient talks to the realm through one base URL (the Service's ClusterIP). Each request
// opens its own connection, as kube-proxy balances connections: a request is answered by
// whichever server the Service routes that connection to at that moment.
type realmClient struct {
	base string
	http *http.Client
}

func newRealmClient(base string) *realmClient {
	// A connection kube-proxy sends to a pod that is gone gets no answer at all: the dial gives
	// up after 2 s, as a client would, and tries again.
	return &realmClient{base: base, http: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext},
	}}
}

// do sends a request with an optional JSON body and returns the status, headers and body.
func (rc *realmClient) do(ctx context.Context, method, path string, body any, header http.Header) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, rc.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := rc.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// answerError is a request the realm answered, but not as a valid session would be: a session
// lost. Any other error of a check is the connection's (refused, reset,
// timed out): the request was not answered.
type answerError struct{ error }

func answered(err error) error { return answerError{err} }

// serverError is an answer of 500 and above: the server could not say (its store failing),
// which is not a lost session; a client tries again.
type serverError struct{ error }

func statusError(code int, err error) error {
	if code >= 500 {
		return serverError{err}
	}
	return answered(err)
}

func isServerError(err error) bool {
	var s serverError
	return errors.As(err, &s)
}

func isAnswer(err error) bool {
	var a answerError
	return errors.As(err, &a)
}

// session is one signed-in client: a browser's account cookie or a devise_token_auth device.
type session interface {
	String() string
	// check asks the realm whether the session is still valid, and fails when it is not.
	check(ctx context.Context, rc *realmClient) error
}

// accountSession is the account dialect's session cookie (the composite session token, which
// the reactAuth socket resumes too).
type accountSession struct {
	login, cookieName, token string
}

func (s *accountSession) String() string { return "account session of " + s.login }

func (s *accountSession) header() http.Header {
	// The cookie is Secure (the sample realm's cookie.secure); a browser would only send it
	// over HTTPS, and the Service here is plain HTTP, so it is sent by hand.
	return http.Header{"Cookie": {s.cookieName + "=" + s.token}}
}

func (s *accountSession) check(ctx context.Context, rc *realmClient) error {
	code, _, b, err := rc.do(ctx, http.MethodGet, accountPrefix+"/session", nil, s.header())
	if err != nil {
		return err
	}
	var u struct {
		Login string `json:"login"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &u) != nil || u.Login != s.login {
		return statusError(code, fmt.Errorf("GET %s/session: %d %s", accountPrefix, code, b))
	}
	return nil
}

// accountLogin logs login in through the account dialect.
func accountLogin(ctx context.Context, rc *realmClient, path, login, password string, extra map[string]string) (*accountSession, error) {
	body := map[string]string{"login": login, "password": password}
	for k, v := range extra {
		body[k] = v
	}
	code, h, b, err := rc.do(ctx, http.MethodPost, accountPrefix+path, body, nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("POST %s%s: %d %s", accountPrefix, path, code, b)
	}
	resp := http.Response{Header: h}
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			return &accountSession{login: login, cookieName: c.Name, token: c.Value}, nil
		}
	}
	return nil, fmt.Errorf("POST %s%s: 200 without a session cookie (headers %v)", accountPrefix, path, h)
}

// deviseSession is a devise_token_auth client's credentials, rotated as the server says.
type deviseSession struct {
	email string
	mu    sync.Mutex
	h     http.Header
}

func (s *deviseSession) String() string { return "deviseToken session of " + s.email }

func (s *deviseSession) take(h http.Header) {
	if h.Get("access-token") == "" {
		return // within the batch buffer: the same token stays
	}
	s.h = http.Header{}
	for _, k := range []string{"access-token", "client", "uid", "token-type"} {
		s.h.Set(k, h.Get(k))
	}
}

func (s *deviseSession) check(ctx context.Context, rc *realmClient) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	code, h, b, err := rc.do(ctx, http.MethodGet, devisePrefix+"/validate_token", nil, s.h)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return statusError(code, fmt.Errorf("GET %s/validate_token: %d %s", devisePrefix, code, b))
	}
	s.take(h)
	return nil
}

func deviseSignIn(ctx context.Context, rc *realmClient, email, password string) (*deviseSession, error) {
	code, h, b, err := rc.do(ctx, http.MethodPost, devisePrefix+"/sign_in", map[string]string{"email": email, "password": password}, nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK || h.Get("access-token") == "" {
		return nil, fmt.Errorf("POST %s/sign_in: %d %s", devisePrefix, code, b)
	}
	s := &deviseSession{email: email}
	s.take(h)
	return s, nil
}

// poller asks the realm about sessions, one request at a time, until stopped, and keeps every
// failed request: what a user would have seen fail while the cluster changed under them.
type poller struct {
	cancel       context.CancelFunc
	done         chan struct{}
	start        time.Time
	mu           sync.Mutex
	ok           int
	failures     []string // answered, but not valid: a session lost
	serverErrors []string // answered 5xx
	unanswered   []string // refused, reset or timed out connections
}

func startPoller(ctx context.Context, rc *realmClient, sessions []session) *poller {
	ctx, cancel := context.WithCancel(ctx)
	p := &poller{cancel: cancel, done: make(chan struct{}), start: time.Now()}
	go func() {
		defer close(p.done)
		for i := 0; ctx.Err() == nil; i++ {
			s := sessions[i%len(sessions)]
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			err := s.check(rctx, rc)
			rcancel()
			if ctx.Err() != nil {
				return // stopped mid-request: not the realm's failure
			}
			p.mu.Lock()
			line := fmt.Sprintf("%5.1fs %s: %v", time.Since(p.start).Seconds(), s, err)
			switch {
			case err == nil:
				p.ok++
			case isAnswer(err):
				p.failures = append(p.failures, line)
			case isServerError(err):
				p.serverErrors = append(p.serverErrors, line)
			default:
				p.unanswered = append(p.unanswered, line)
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return p
}

// pollReport is what a poller saw.
type pollReport struct {
	OK           int
	Failures     []string // answered, not valid
	ServerErrors []string // answered 5xx
	Unanswered   []string // no answer
}

func (r pollReport) String() string {
	return fmt.Sprintf("%d requests answered with a valid session, %d with the session refused, %d with a server error, %d not answered",
		r.OK, len(r.Failures), len(r.ServerErrors), len(r.Unanswered))
}

func (r pollReport) total() int {
	return r.OK + len(r.Failures) + len(r.ServerErrors) + len(r.Unanswered)
}

// stop stops the poller and returns what it saw; a second call returns the same.
func (p *poller) stop() pollReport {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return pollReport{p.ok, p.failures, p.serverErrors, p.unanswered}
}
