package admin

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
)

// users prints users as a table (ID, login, email, name, role, status, created) or JSON.
// Scanned users carry no password hash, so whether they have a password is not said.
func (p printer) users(users []store.User, scanned bool) error {
	if p.json {
		out := make([]core.ExportedUser, len(users))
		for i, u := range users {
			out[i] = core.ExportUser(u)
			if scanned {
				out[i].HasPassword = nil
			}
		}
		return p.asJSON(out)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLOGIN\tEMAIL\tNAME\tROLE\tSTATUS\tCREATED")
	for _, u := range users {
		x := core.ExportUser(u)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Login, dash(x.Email), dash(joinName(x.FirstName, x.LastName)),
			dash(x.Role), x.Status, stamp(x.CreatedAt))
	}
	return tw.Flush()
}

// sessions prints sessions as a table or JSON.
func (p printer) sessions(sessions []store.Session) error {
	out := make([]core.ExportedSession, len(sessions))
	for i, s := range sessions {
		out[i] = core.ExportSession(s)
	}
	if p.json {
		return p.asJSON(out)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tDIALECT\tCLIENT\tCREATED\tLAST SEEN\tEXPIRES\tADDRESS\tUSER AGENT")
	for _, s := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Dialect, dash(s.Client), stamp(s.CreatedAt),
			stamp(s.LastSeenAt), stamp(s.ExpiresAt), dash(s.ClientIP), dash(s.UserAgent))
	}
	return tw.Flush()
}

func joinName(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
