package main

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/dialect/reactauth"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/token"
)

// socketRealm is what the suites with live sockets share: a Redis, a realm config with
// reactAuth and account, one replica serving it, and the store and token hasher the bench
// writes sessions with.
type socketRealm struct {
	redis   *redisProc
	cfg     *config.Config
	replica *latchProc
	store   *redisstore.Store
	hasher  *token.Hasher
}

// startSocketRealm starts a socket realm named name, with room for sockets descriptors on
// each side (the bench holds the clients, a replica the servers). Close the store when done;
// the processes stop with the bench.
func (b *bench) startSocketRealm(name string, sockets int) (*socketRealm, error) {
	if err := raiseFileLimit(uint64(sockets + 8192)); err != nil {
		return nil, err
	}
	rds, err := b.startRedis(name + "-redis")
	if err != nil {
		return nil, err
	}
	cfg, err := b.serverConfig(rds.addr, "latch:"+name+":")
	if err != nil {
		return nil, err
	}
	cfg.Protocols = config.Protocols{ReactAuth: &config.ReactAuth{}, Account: &config.Account{}}
	cfg.Passwords.Argon2 = cheapArgon2
	replica, err := b.startLatch(name+"-latch", cfg)
	if err != nil {
		return nil, err
	}
	st, err := redisstore.Open(replica.cfg.Redis)
	if err != nil {
		return nil, err
	}
	hasher, err := token.NewHasherFromConfig(cfg.TokenHashKey)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return &socketRealm{redis: rds, cfg: cfg, replica: replica, store: st, hasher: hasher}, nil
}

// heldSockets are reactAuth sockets the bench holds open, each bound to its session, and
// when each heard the close push.
type heldSockets struct {
	conns    []*websocket.Conn
	closedAt []atomic.Int64 // Unix ns of the close push, 0 until it comes
	readers  sync.WaitGroup
}

// holdSockets dials one socket per session at url (from sourceAddrs source addresses) and
// binds it with socket/resume. Its readers answer the server's pings and note the close push.
// close ends them all; call it even after an error.
func holdSockets(b *bench, url string, sessions []socketSession, sourceAddrs int) (*heldSockets, error) {
	h := &heldSockets{conns: make([]*websocket.Conn, len(sessions)), closedAt: make([]atomic.Int64, len(sessions))}
	push := []byte(reactauth.ClosePush)
	err := parallel(len(sessions), 64, func(i int) error {
		c, err := dialSocket(b.ctx, url, sourceAddr(i, sourceAddrs), sessions[i])
		if err != nil {
			return fmt.Errorf("socket %d: %w", i, err)
		}
		h.conns[i] = c
		h.readers.Go(func() {
			// It ends when the bench closes the socket.
			for {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Minute))
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if bytes.Equal(msg, push) {
					h.closedAt[i].CompareAndSwap(0, time.Now().UnixNano())
				}
			}
		})
		return nil
	})
	return h, err
}

func (h *heldSockets) close() {
	for _, c := range h.conns {
		if c != nil {
			_ = c.Close()
		}
	}
	h.readers.Wait()
}

// newSession writes a reactAuth session of user uid to the store, as a login would (the suites
// do not measure logins), and returns it as a socket binds to it.
func (r *socketRealm) newSession(b *bench, uid string, now time.Time, edit func(*store.Session)) (socketSession, error) {
	sid, err := token.NewID()
	if err != nil {
		return socketSession{}, err
	}
	secret, err := token.New()
	if err != nil {
		return socketSession{}, err
	}
	s := store.Session{
		ID: sid, UserID: uid, Dialect: reactauth.Name, TokenHash: r.hasher.Hash(secret),
		IdleTimeout: time.Hour, ExpiresAt: now.Add(2 * time.Hour),
	}
	if edit != nil {
		edit(&s)
	}
	if _, err := r.store.CreateSession(b.ctx, store.NewSession{Session: s, Now: now}); err != nil {
		return socketSession{}, err
	}
	return socketSession{userID: uid, token: token.SessionToken{UserID: uid, SessionID: sid, Secret: secret}.String()}, nil
}
