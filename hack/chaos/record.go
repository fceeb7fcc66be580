package main

import (
	"strings"
	"sync"
	"time"
)

// kind is how a response counts in the figures.
type kind uint8

const (
	kOK              kind = iota
	kExpected401          // an ended credential refused
	kUnexpected401        // a live session (or valid credentials) refused
	kUncertain401         // a session whose last request had an unknown effect, refused
	kServer               // 5xx
	kTransport            // no answer from a replica that was up
	kDownReplica          // no answer from a replica the harness had killed: the load balancer's business
	kOther                // any other status
	kRevokedAccepted      // an ended credential accepted
	numKinds
)

// op is what a request did; write ops change the store, which matters when only writes fail
// (out of memory).
type op uint8

const (
	opCheck  op = iota // a session check that writes nothing the client depends on
	opRotate           // deviseToken validate_token: may rotate the token
	opLogin
	opLogout
	opRefresh
	opRecheck // the harness's re-check of an ended credential
	opSocket  // socket/resume
)

func (o op) String() string {
	return [...]string{"check", "rotation", "login", "logout", "refresh", "re-check", "socket resume"}[o]
}

func (o op) writes() bool { return o == opRotate || o == opLogin || o == opLogout || o == opRefresh }

type event struct {
	at      time.Time
	kind    kind
	op      op
	replica int8
	d       dialect
}

// loss is a session a replica refused while the client held it live.
type loss struct {
	d         dialect
	lastWrite time.Time // creation, or its last rotation or refresh
	at        time.Time
	sweep     bool // found by the sweep after recovery rather than by the workload
	// who names the session without its secret (user and session IDs, or the key), and
	// replica is the one that refused it: what to look for in the logs.
	who     string
	replica int
	created time.Time
}

// violation is an ended credential a replica accepted.
type violation struct {
	d          dialect
	endedAt    time.Time
	acceptedAt time.Time
	replica    int
}

// socketEnd is one bound socket whose session the harness ended elsewhere.
type socketEnd struct {
	boundAt, endedAt time.Time
	closeAt          time.Time // zero: no close seen
	viaResume        bool      // learnt on a reconnect's resume rather than by the push
	// who names the session (user and session IDs); replica is the socket's, loggedOutAt the
	// replica that answered the logout.
	who                  string
	replica, loggedOutAt int
}

type readySample struct {
	at      time.Time
	replica int
	status  int // 0: no answer
}

// recorder collects everything a scenario run observed; the figures are computed from it
// afterwards, once the fault's times are known.
type recorder struct {
	mu         sync.Mutex
	events     []event
	losses     []loss
	violations []violation
	sockets    []socketEnd
	ready      []readySample
	notes      []string
	// uncertain counts sessions dropped after a request with an unknown effect.
	uncertain int
	// bindFailures counts socket/resume of a live session that did not succeed.
	bindFailures int
}

func (r *recorder) event(e event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) loss(l loss) {
	r.mu.Lock()
	r.losses = append(r.losses, l)
	r.mu.Unlock()
}

func (r *recorder) violation(v violation) {
	r.mu.Lock()
	r.violations = append(r.violations, v)
	r.mu.Unlock()
}

func (r *recorder) socket(s socketEnd) {
	r.mu.Lock()
	r.sockets = append(r.sockets, s)
	r.mu.Unlock()
}

func (r *recorder) readiness(s readySample) {
	r.mu.Lock()
	r.ready = append(r.ready, s)
	r.mu.Unlock()
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	r.notes = append(r.notes, s)
	r.mu.Unlock()
}

func (r *recorder) addUncertain() {
	r.mu.Lock()
	r.uncertain++
	r.mu.Unlock()
}

func (r *recorder) addBindFailure() {
	r.mu.Lock()
	r.bindFailures++
	r.mu.Unlock()
}

// who names a credential without its secret, as the logs and Redis keys name it: the user
// and session IDs of a session token, the client and uid of a deviseToken, the key of a
// keyToken.
func (c creds) who() string {
	switch {
	case c.token != "":
		if i := strings.LastIndexByte(c.token, '.'); i > 0 {
			return c.token[:i]
		}
		return "?"
	case c.key != "":
		return "key " + c.key
	case c.client != "":
		return "client " + c.client + " uid " + c.uid
	}
	return "?"
}
