package redisstore

import (
	"fmt"
	"strings"

	"github.com/latchauth/latch/authserver/store"
)

// keys builds the key layout of DESIGN.md. The part in braces is the Redis Cluster hash tag:
// everything one atomic step touches shares it.
type keys struct{ prefix string }

// newKeys checks the prefix: a brace in it would become the hash tag of every key and put the
// whole realm in one slot, or split a step across slots.
func newKeys(prefix string) (keys, error) {
	if strings.ContainsAny(prefix, "{}") {
		return keys{}, fmt.Errorf("%w: key prefix %q must not contain '{' or '}'", store.ErrInvalidArgument, prefix)
	}
	return keys{prefix: prefix}, nil
}

// userBase is the start of every key of a user; scripts append "s:<sessionID>" to it.
func (k keys) userBase(uid string) string     { return k.prefix + "{u:" + uid + "}:" }
func (k keys) user(uid string) string         { return k.userBase(uid) + "user" }
func (k keys) sessionIndex(uid string) string { return k.userBase(uid) + "sessions" }
func (k keys) session(uid, sid string) string { return k.userBase(uid) + "s:" + sid }
func (k keys) oneTime(uid string, kind store.OneTimeKind) string {
	return k.userBase(uid) + "ott:" + string(kind)
}

// login takes a normalized login.
func (k keys) login(login string) string { return k.prefix + "{l:" + login + "}:login" }

// counter names a brute-force or rate-limit counter; each subject is its own hash slot.
func (k keys) counter(s store.Subject) string {
	switch s.Kind {
	case store.SubjectIP:
		return k.prefix + "{bf:ip:" + s.Value + "}:ip"
	case store.SubjectLoginIP:
		return k.prefix + "{bf:li:" + s.Value + "}:loginip"
	case store.SubjectDevice:
		return k.prefix + "{bf:dev:" + s.Value + "}:device"
	case store.SubjectRate:
		return k.prefix + "{rl:" + s.Value + "}:rate"
	}
	return k.prefix + "{bf:" + s.Value + "}:login"
}

// clientBase is the start of every key of a client; scripts append "dt:<hash>" to it.
func (k keys) clientBase(id string) string        { return k.prefix + "{c:" + id + "}:" }
func (k keys) appClient(id string) string         { return k.clientBase(id) + "client" }
func (k keys) deviceTokenIndex(id string) string  { return k.clientBase(id) + "devtoks" }
func (k keys) deviceToken(id, hash string) string { return k.clientBase(id) + "dt:" + hash }
func (k keys) clientSessions(id string) string    { return k.clientBase(id) + "sessions" }
func (k keys) revocations() string                { return k.prefix + "revocations" }

// heartbeats is the channel subscribers publish heartbeats on (revocations.go).
func (k keys) heartbeats() string { return k.prefix + "revocations:heartbeat" }

// probe is a readiness-probe key; tag, when set, is its hash tag (one per cluster master).
func (k keys) probe(tag string) string {
	if tag == "" {
		return k.prefix + "readiness-probe"
	}
	return k.prefix + "{" + tag + "}:readiness-probe"
}
