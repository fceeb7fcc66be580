package account

import (
	"net/http"

	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
)

// user is the seed's User instance. Status is a number: 0 pending, 1 active, 2 disabled.
type user struct {
	ID        string `json:"id"`
	Login     string `json:"login"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Status    int    `json:"status"`
}

func userOf(u store.User) user {
	return user{ID: u.ID, Login: u.Login, FirstName: u.FirstName, LastName: u.LastName, Status: int(u.Status)}
}

// apiError is the seed's Error instance; Code repeats the HTTP status.
type apiError struct {
	Code  int    `json:"code"`
	Error string `json:"error"`
}

// writeError is the dialect's httpx.ErrorWriter.
func writeError(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	httpx.WriteJSON(w, status, apiError{Code: status, Error: msg})
}

// The request bodies. Unknown fields are ignored; a field of the wrong type is a 400.
type (
	loginRequest struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	registerRequest struct {
		Login     string `json:"login"`
		Password  string `json:"password"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
	}
	forgotRequest struct {
		Login string `json:"login"`
	}
	resetRequest struct {
		ID       string `json:"id"`
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	confirmRequest struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
)
