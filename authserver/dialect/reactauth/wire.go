package reactauth

import (
	"net/http"

	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
)

// The request types of the seed.
const (
	typeAuthenticate = "fantaptik/react-auth/authenticate"
	typeResume       = "fantaptik/react-auth/resume"
	typeSocketResume = "fantaptik/react-auth/socket/resume"
	typeClose        = "fantaptik/react-auth/close"
)

// publicUser is the user object of a successful response: opaque to the client, which hands
// it back in socket requests (its id is checked there). Never a hash or a token.
type publicUser struct {
	ID        string `json:"id"`
	Login     string `json:"login"`
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Role      string `json:"role"`
	Status    int    `json:"status"`
}

func userOf(u store.User) publicUser {
	return publicUser{
		ID: u.ID, Login: u.Login, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
		Role: u.Role, Status: int(u.Status),
	}
}

// authResponse is the seed's ServerAuthenticateResponse.
type authResponse struct {
	Success bool   `json:"success"`
	Session string `json:"session"`
	User    any    `json:"user"`
}

// failure is every failed authenticate or resume: an empty session and an empty (non-null)
// user object, as the seed shows.
var failure = authResponse{Success: false, Session: "", User: struct{}{}}

// writeError is the dialect's httpx.ErrorWriter: the failure body, with status. The client
// reads success; msg is for logs elsewhere and not sent (the seed's shape has no field for it).
func writeError(w http.ResponseWriter, _ *http.Request, status int, _ string) {
	httpx.WriteJSON(w, status, failure)
}
