package admin

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/token"
)

// Usage is the command's help.
const Usage = `Usage: latch admin --config FILE [--actor NAME] [-o table|json] [--audit-log PATH] COMMAND

Commands:
  users list [--filter TEXT]           users whose login, email or name contains TEXT
  users show LOGIN|ID                  one user
  users disable LOGIN|ID               refuse logins and end every session (sockets get close)
  users enable LOGIN|ID                allow logins again (status active)
  users delete LOGIN|ID                the user, sessions, tokens and login counter
  users export LOGIN|ID                everything stored about the user, as JSON
  sessions list --user LOGIN|ID        live sessions: dialect, client, created, last seen,
                                       expiry, client address, user agent
  sessions revoke --user LOGIN|ID [--session ID]
                                       end one session, or all of the user's
  reset-link --user LOGIN|ID           issue a password reset link to hand over
  import FILE [--format devise-csv|devise-jsonl|jsonl] [--workers N]
                                       create users from a devise export, hashes and
                                       devise_token_auth tokens kept; existing logins skipped
`

// Main runs the command with args (after "admin") and returns the process's exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := run(ctx, args, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, Usage)
			return 0
		}
		fmt.Fprintf(stderr, "latch admin: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(stderr, "\n"+Usage)
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a command line the command cannot read.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// options are the flags every command takes.
type options struct {
	config, actor, output, auditLog string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	var o options
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.config, "config", "", "the realm's server config file (required)")
	fs.StringVar(&o.actor, "actor", defaultActor(), "who acts, for the audit log")
	fs.StringVar(&o.output, "o", "table", "output: table or json")
	fs.StringVar(&o.auditLog, "audit-log", "", "append audit events to this file (default: standard error)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	switch {
	case o.config == "":
		return usagef("--config FILE is required")
	case o.output != "table" && o.output != "json":
		return usagef("-o must be table or json, not %q", o.output)
	case strings.TrimSpace(o.actor) == "":
		return usagef("--actor is required (no user name to default to)")
	case fs.NArg() == 0:
		return usagef("no command")
	}
	cmd, err := parseCommand(fs.Args())
	if err != nil {
		return err
	}
	audit, closeAudit, err := openAudit(o.auditLog, stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeAudit()) }()
	a, closeStore, err := open(ctx, o, audit)
	if err != nil {
		return err
	}
	defer closeStore()
	out := printer{w: stdout, json: o.output == "json"}
	return cmd(ctx, a, out)
}

// defaultActor is the local user's name: a person running latch admin on their machine.
func defaultActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// openAudit returns the logger audit events go to, and a close that reports the first write
// that failed: an action whose audit event was lost must not look like a success.
func openAudit(path string, stderr io.Writer) (*slog.Logger, func() error, error) {
	if path == "" {
		w := &auditWriter{w: stderr}
		return slog.New(slog.NewJSONHandler(w, nil)), w.failed, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-log: %w", err)
	}
	w := &auditWriter{w: f}
	return slog.New(slog.NewJSONHandler(w, nil)), func() error { return errors.Join(w.failed(), f.Close()) }, nil
}

// auditWriter remembers the first error of the writes under it (slog drops them).
type auditWriter struct {
	w   io.Writer
	err error
}

func (a *auditWriter) Write(p []byte) (int, error) {
	n, err := a.w.Write(p)
	if err != nil && a.err == nil {
		a.err = err
	}
	return n, err
}

func (a *auditWriter) failed() error {
	if a.err != nil {
		return fmt.Errorf("audit log: %w (the action may have run: check the realm)", a.err)
	}
	return nil
}

// open loads the realm's config and opens its store.
func open(ctx context.Context, o options, logger *slog.Logger) (core.Admin, func(), error) {
	cfg, err := config.Load(o.config)
	if err != nil {
		return core.Admin{}, nil, err
	}
	if cfg.Redis == nil {
		return core.Admin{}, nil, errors.New("the config has no redis section: the in-memory store lives inside one server process, and there is nothing to administer from outside it")
	}
	hasher, err := token.NewHasherFromConfig(cfg.TokenHashKey)
	if err != nil {
		return core.Admin{}, nil, err
	}
	rs, err := redisstore.Open(cfg.Redis)
	if err != nil {
		return core.Admin{}, nil, fmt.Errorf("redis: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rs.Ping(pctx); err != nil {
		_ = rs.Close()
		return core.Admin{}, nil, fmt.Errorf("redis: %w", err)
	}
	svc := &core.Service{Store: rs, Hasher: hasher, Config: cfg, Logger: logger, Now: time.Now}
	return core.Admin{Service: svc, Actor: o.actor}, func() { _ = rs.Close() }, nil
}

// command runs one parsed command.
type command func(ctx context.Context, a core.Admin, out printer) error

func parseCommand(args []string) (command, error) {
	noun, rest := args[0], args[1:]
	if noun == "reset-link" {
		return parseUserFlagCommand("reset-link", rest, resetLink)
	}
	if noun == "import" {
		return parseImport(rest)
	}
	if len(rest) == 0 {
		return nil, usagef("%s: which action?", noun)
	}
	verb, rest := rest[0], rest[1:]
	switch noun + " " + verb {
	case "users list":
		fs := flag.NewFlagSet("users list", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		filter := fs.String("filter", "", "")
		if err := fs.Parse(rest); err != nil || fs.NArg() > 0 {
			return nil, usagef("users list takes only --filter TEXT")
		}
		return func(ctx context.Context, a core.Admin, out printer) error { return listUsers(ctx, a, out, *filter) }, nil
	case "users show", "users disable", "users enable", "users delete", "users export":
		if len(rest) != 1 {
			return nil, usagef("users %s takes one LOGIN or ID", verb)
		}
		ref := rest[0]
		return func(ctx context.Context, a core.Admin, out printer) error {
			u, err := a.FindUser(ctx, ref)
			if err != nil {
				return err
			}
			return userActions[verb](ctx, a, out, u)
		}, nil
	case "sessions list":
		return parseUserFlagCommand("sessions list", rest, listSessions)
	case "sessions revoke":
		fs := flag.NewFlagSet("sessions revoke", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		ref := fs.String("user", "", "")
		sid := fs.String("session", "", "")
		if err := fs.Parse(rest); err != nil || fs.NArg() > 0 || *ref == "" {
			return nil, usagef("sessions revoke takes --user LOGIN|ID and optionally --session ID")
		}
		return func(ctx context.Context, a core.Admin, out printer) error {
			u, err := a.FindUser(ctx, *ref)
			if err != nil {
				return err
			}
			return revokeSessions(ctx, a, out, u, *sid)
		}, nil
	}
	return nil, usagef("unknown command %q", noun+" "+verb)
}

// parseUserFlagCommand parses a command whose only argument is --user LOGIN|ID.
func parseUserFlagCommand(name string, args []string, do func(context.Context, core.Admin, printer, store.User) error) (command, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ref := fs.String("user", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *ref == "" {
		return nil, usagef("%s takes --user LOGIN|ID", name)
	}
	return func(ctx context.Context, a core.Admin, out printer) error {
		u, err := a.FindUser(ctx, *ref)
		if err != nil {
			return err
		}
		return do(ctx, a, out, u)
	}, nil
}

var userActions = map[string]func(context.Context, core.Admin, printer, store.User) error{
	"show": func(_ context.Context, _ core.Admin, out printer, u store.User) error {
		return out.users([]store.User{u}, false)
	},
	"disable": func(ctx context.Context, a core.Admin, out printer, u store.User) error {
		u, ended, err := a.SetDisabled(ctx, u.ID, true)
		if err != nil {
			return err
		}
		return out.result(fmt.Sprintf("disabled %s; %d sessions ended", u.Login, len(ended)), map[string]any{"user": core.ExportUser(u), "sessionsEnded": len(ended)})
	},
	"enable": func(ctx context.Context, a core.Admin, out printer, u store.User) error {
		u, _, err := a.SetDisabled(ctx, u.ID, false)
		if err != nil {
			return err
		}
		return out.result("enabled "+u.Login, map[string]any{"user": core.ExportUser(u)})
	},
	"delete": func(ctx context.Context, a core.Admin, out printer, u store.User) error {
		ended, err := a.DeleteUser(ctx, u.ID)
		if err != nil {
			return err
		}
		return out.result(fmt.Sprintf("deleted %s (%s); %d sessions ended", u.Login, u.ID, len(ended)), map[string]any{"deleted": u.ID, "sessionsEnded": len(ended)})
	},
	"export": func(ctx context.Context, a core.Admin, out printer, u store.User) error {
		x, err := a.Export(ctx, u.ID)
		if err != nil {
			return err
		}
		return out.asJSON(x) // an export is JSON whatever -o says
	},
}

func listUsers(ctx context.Context, a core.Admin, out printer, filter string) error {
	users, err := a.ListUsers(ctx, filter)
	if err != nil {
		return err
	}
	return out.users(users, true)
}

func listSessions(ctx context.Context, a core.Admin, out printer, u store.User) error {
	sessions, err := a.Sessions(ctx, u.ID)
	if err != nil {
		return err
	}
	return out.sessions(sessions)
}

func revokeSessions(ctx context.Context, a core.Admin, out printer, u store.User, sid string) error {
	if sid != "" {
		if err := a.RevokeSession(ctx, store.SessionRef{UserID: u.ID, SessionID: sid}); err != nil {
			return err
		}
		return out.result("ended session "+sid+" of "+u.Login, map[string]any{"sessionsEnded": 1})
	}
	ended, err := a.RevokeSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	return out.result(fmt.Sprintf("ended %d sessions of %s", len(ended), u.Login), map[string]any{"sessionsEnded": len(ended)})
}

func resetLink(ctx context.Context, a core.Admin, out printer, u store.User) error {
	link, err := a.ResetLink(ctx, u.ID)
	if err != nil {
		return err
	}
	return out.result(link, map[string]any{"user": u.ID, "link": link})
}

// printer writes results as a table or as JSON.
type printer struct {
	w    io.Writer
	json bool
}

func (p printer) asJSON(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// result prints a one-line summary, or v as JSON.
func (p printer) result(line string, v any) error {
	if p.json {
		return p.asJSON(v)
	}
	_, err := fmt.Fprintln(p.w, line)
	return err
}
