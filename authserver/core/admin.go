package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/mail"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// ErrNoSuchUser is an administrative lookup that found nobody. Only administration says so:
// the dialects never tell whether a login exists.
var ErrNoSuchUser = errors.New("no such user")

// Admin runs a realm's administrative actions (latch admin) on a Service. Each action that
// changes something is an audit event "admin.<action>" naming Actor, in the same stream as
// the dialects' events.
type Admin struct {
	Service *Service
	// Actor names who acts: a person or a Kubernetes identity. Required.
	Actor string
}

// meta describes an administrative action to the audit log: dialect "admin", no address.
func (a Admin) meta() Meta {
	id, _ := token.NewID()
	return Meta{Dialect: "admin", RequestID: id}
}

func (a Admin) audit(ctx context.Context, event, userID string, err error, attrs ...slog.Attr) {
	outcome := outcomeSuccess
	if err != nil {
		outcome = outcomeError
		if errors.Is(err, ErrNoSuchUser) {
			outcome = outcomeRefused
		}
	}
	a.Service.audit(ctx, a.meta(), "admin."+event, userID, outcome, append(attrs, slog.String("actor", a.Actor))...)
}

// FindUser returns the user named by ref: a user ID, or else a login. ErrNoSuchUser if none.
// Every lookup is audited (admin.user.lookup): it reads a user's record, and a failed one
// leaves the trace of an action that went no further.
func (a Admin) FindUser(ctx context.Context, ref string) (u store.User, err error) {
	defer func() {
		attrs := []slog.Attr{}
		if err != nil {
			attrs = append(attrs, slog.String("target", truncateUTF8(ref, store.MaxLoginLen)))
		}
		a.audit(ctx, "user.lookup", u.ID, err, attrs...)
	}()
	if token.ValidID(ref) {
		u, err = a.Service.Store.GetUser(ctx, ref)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return u, err
		}
	}
	u, err = a.Service.Store.GetUserByLogin(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("%w: %q", ErrNoSuchUser, ref)
	}
	return u, err
}

// ListUsers returns every user whose login, email or name contains filter (case-insensitive;
// empty: all), sorted by login, without password hashes. It walks the whole keyspace
// (store.ScanUsers). Audited as admin.users.list with the filter and the count.
func (a Admin) ListUsers(ctx context.Context, filter string) (users []store.User, err error) {
	defer func() {
		a.audit(ctx, "users.list", "", err, slog.String("filter", truncateUTF8(filter, store.MaxLoginLen)), slog.Int("users", len(users)))
	}()
	lower := strings.ToLower(filter)
	err = a.Service.Store.ScanUsers(ctx, scanBatch, func(batch []store.User) error {
		for _, u := range batch {
			if lower == "" || strings.Contains(strings.ToLower(u.Login+"\x00"+u.Email+"\x00"+u.FirstName+" "+u.LastName), lower) {
				users = append(users, u)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(users, func(x, y store.User) int {
		return strings.Compare(store.NormalizeLogin(x.Login), store.NormalizeLogin(y.Login))
	})
	return users, nil
}

// scanBatch is how many users one SCAN step and one pipelined read take.
const scanBatch = 500

// SetDisabled disables the user, ending every session (live sockets get close), or enables a
// disabled user again (active). Enabling leaves a user who is not disabled as they are: a
// pending account stays pending, since whoever registered it may not own its address. It
// returns the user as stored and the ended sessions.
func (a Admin) SetDisabled(ctx context.Context, userID string, disabled bool) (u store.User, ended []string, err error) {
	event := "user.enable"
	if disabled {
		event = "user.disable"
	}
	defer func() { a.audit(ctx, event, loggableID(userID), err, sessionsEnded(ended)) }()
	now := a.Service.Now()
	u, err = a.Service.Store.UpdateUser(ctx, userID, now, func(u store.User) (store.User, error) {
		switch {
		case disabled:
			u.Status = store.StatusDisabled
		case u.Status == store.StatusDisabled:
			u.Status = store.StatusActive
		}
		return u, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, nil, ErrNoSuchUser
	}
	if err != nil || !disabled {
		return u, nil, err
	}
	// Disabled first, so no new session can start; then every live one ends.
	ended, err = a.Service.Store.RevokeAllSessions(ctx, userID, "", store.ReasonAdmin, now)
	return u, ended, err
}

// DeleteUser deletes the user and everything stored under it (store.DeleteUser).
func (a Admin) DeleteUser(ctx context.Context, userID string) (ended []string, err error) {
	defer func() { a.audit(ctx, "user.delete", loggableID(userID), err, sessionsEnded(ended)) }()
	ended, err = a.Service.Store.DeleteUser(ctx, userID, a.Service.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSuchUser
	}
	return ended, err
}

// Sessions lists the user's live sessions, oldest first. Audited as admin.sessions.list: the
// list holds the addresses and user agents the user signed in from.
func (a Admin) Sessions(ctx context.Context, userID string) (list []store.Session, err error) {
	defer func() { a.audit(ctx, "sessions.list", loggableID(userID), err, slog.Int("sessions", len(list))) }()
	return a.Service.Store.ListSessions(ctx, userID, a.Service.Now())
}

// RevokeSessions ends every session of the user; live sockets get close.
func (a Admin) RevokeSessions(ctx context.Context, userID string) (ended []string, err error) {
	defer func() { a.audit(ctx, "sessions.revoke_all", loggableID(userID), err, sessionsEnded(ended)) }()
	return a.Service.Store.RevokeAllSessions(ctx, userID, "", store.ReasonAdmin, a.Service.Now())
}

// RevokeSession ends one session; ErrNoSuchSession if it is not live.
func (a Admin) RevokeSession(ctx context.Context, ref store.SessionRef) (err error) {
	defer func() {
		a.audit(ctx, "sessions.revoke", loggableID(ref.UserID), err, slog.String("session_id", loggableID(ref.SessionID)))
	}()
	_, err = a.Service.Store.RevokeSession(ctx, ref, "", store.ReasonAdmin, a.Service.Now())
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoSuchSession
	}
	return err
}

// ErrNoSuchSession is an administrative revocation of a session that is not live.
var ErrNoSuchSession = errors.New("no such session")

// ResetLink issues a password reset token for the user and returns the realm's reset link
// (email.resetURL?uid=…&t=…), for an administrator to hand over out of band. It stays valid
// beside the user's own outstanding links, for email.resetTokenLifespan.
func (a Admin) ResetLink(ctx context.Context, userID string) (link string, err error) {
	defer func() { a.audit(ctx, "user.reset_link", loggableID(userID), err) }()
	page := a.Service.Config.Email.ResetURL
	if page == "" {
		return "", errors.New("email.resetURL is not set: the realm has no reset page to link to")
	}
	u, err := a.Service.Store.GetUser(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", ErrNoSuchUser
	case err != nil:
		return "", err
	case u.Status == store.StatusDisabled:
		// The link would be refused when followed: say so now.
		return "", errors.New("the user is disabled: enable them first")
	}
	secret, err := a.Service.issueOneTimeKeep(ctx, userID, store.OneTimeReset, a.Service.Config.Email.ResetTokenLifespan.Duration,
		max(a.Service.Config.RateLimits.Forgot.PerLogin, 2))
	if err != nil {
		return "", err
	}
	return mail.Link(page, userID, secret), nil
}

// Export is everything the realm stores about a user, for a data-subject request: the
// record and the live sessions, never a password hash or a token hash.
type Export struct {
	User     ExportedUser      `json:"user"`
	Sessions []ExportedSession `json:"sessions"`
}

// ExportedUser is a user record without its password hash.
type ExportedUser struct {
	ID               string `json:"id"`
	Login            string `json:"login"`
	Email            string `json:"email,omitempty"`
	UnconfirmedEmail string `json:"unconfirmedEmail,omitempty"`
	FirstName        string `json:"firstName,omitempty"`
	LastName         string `json:"lastName,omitempty"`
	Role             string `json:"role,omitempty"`
	Status           string `json:"status"`
	// HasPassword is unset in lists: a scan does not read password hashes (store.ScanUsers).
	HasPassword       *bool     `json:"hasPassword,omitempty"`
	CreatedAt         time.Time `json:"createdAt"`
	UpdatedAt         time.Time `json:"updatedAt"`
	PasswordChangedAt time.Time `json:"passwordChangedAt,omitzero"`
}

// ExportedSession is a session without its token hashes.
type ExportedSession struct {
	ID         string    `json:"id"`
	Dialect    string    `json:"dialect"`
	Client     string    `json:"client,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	ClientIP   string    `json:"clientIP,omitempty"`
	UserAgent  string    `json:"userAgent,omitempty"`
}

// ExportSession describes a session as administrators and users see it: its deadline (the
// earlier of idle and absolute end) as ExpiresAt, no hashes.
func ExportSession(s store.Session) ExportedSession {
	return ExportedSession{ID: s.ID, Dialect: s.Dialect, Client: s.ClientName, CreatedAt: s.CreatedAt,
		LastSeenAt: s.LastSeenAt, ExpiresAt: s.Deadline(), ClientIP: s.ClientIP, UserAgent: s.UserAgent}
}

// ExportUser describes a user record without its password hash.
func ExportUser(u store.User) ExportedUser {
	return ExportedUser{ID: u.ID, Login: u.Login, Email: u.Email, UnconfirmedEmail: u.UnconfirmedEmail,
		FirstName: u.FirstName, LastName: u.LastName, Role: u.Role, Status: statusName(u.Status),
		HasPassword: new(u.PasswordHash != ""), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, PasswordChangedAt: u.PasswordChangedAt}
}

// Export returns everything stored about the user. It is audited: it discloses personal data.
func (a Admin) Export(ctx context.Context, userID string) (x Export, err error) {
	defer func() { a.audit(ctx, "user.export", loggableID(userID), err) }()
	u, err := a.Service.Store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return Export{}, ErrNoSuchUser
	} else if err != nil {
		return Export{}, err
	}
	sessions, err := a.Service.Store.ListSessions(ctx, userID, a.Service.Now())
	if err != nil {
		return Export{}, err
	}
	x = Export{User: ExportUser(u), Sessions: make([]ExportedSession, len(sessions))}
	for i, s := range sessions {
		x.Sessions[i] = ExportSession(s)
	}
	return x, nil
}

// statusName is a user status as administrators read it.
func statusName(s store.UserStatus) string {
	switch s {
	case store.StatusPending:
		return "pending"
	case store.StatusActive:
		return "active"
	case store.StatusDisabled:
		return "disabled"
	}
	return fmt.Sprintf("status-%d", int(s))
}
