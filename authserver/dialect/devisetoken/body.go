package devisetoken

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"net/url"

	"github.com/latchauth/latch/authserver/httpx"
)

// body is the parameters a request body may carry. devise reads Rails' params, one flat
// namespace whatever the route, so one type serves every route; each handler reads only its
// own fields. Pointers tell a missing field from an empty one (devise checks
// password_confirmation only when it is sent). Unknown fields are ignored: devise's clients
// send extras (config_name, the application's own attributes).
type body struct {
	Email                *string `json:"email"`
	Password             *string `json:"password"`
	PasswordConfirmation *string `json:"password_confirmation"`
	CurrentPassword      *string `json:"current_password"`
	RedirectURL          *string `json:"redirect_url"`
	ConfirmSuccessURL    *string `json:"confirm_success_url"`
	Name                 *string `json:"name"`
	FirstName            *string `json:"first_name"`
	LastName             *string `json:"last_name"`

	AccessToken *string `json:"access-token"`
	Client      *string `json:"client"`
	UID         *string `json:"uid"`
}

// formFields maps form field names to the body's fields, for form-encoded bodies.
func (b *body) formFields() map[string]**string {
	return map[string]**string{
		"email": &b.Email, "password": &b.Password, "password_confirmation": &b.PasswordConfirmation,
		"current_password": &b.CurrentPassword, "redirect_url": &b.RedirectURL, "name": &b.Name,
		"confirm_success_url": &b.ConfirmSuccessURL,
		"first_name":          &b.FirstName, "last_name": &b.LastName,
		keyAccessToken: &b.AccessToken, keyClient: &b.Client, keyUID: &b.UID,
	}
}

// credentials returns the credentials the body carries.
func (b *body) credentials() credentials {
	return credentials{AccessToken: clean(str(b.AccessToken)), Client: clean(str(b.Client)), UID: clean(str(b.UID))}
}

// str returns *p, or "" for a missing field.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// parseBody decodes data as a form when the content type says so, and as a JSON object
// otherwise (devise's clients send JSON, some without a content type). An empty body is
// malformed when required, and no parameters otherwise. Errors wrap httpx.ErrMalformed.
func parseBody(contentType string, data []byte, required bool) (body, error) {
	var b body
	if len(bytes.TrimSpace(data)) == 0 {
		if required {
			return b, fmt.Errorf("%w: the body is empty", httpx.ErrMalformed)
		}
		return b, nil
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == "application/x-www-form-urlencoded" {
		v, err := httpx.ParseForm(data)
		if err != nil {
			return b, err
		}
		b.fromForm(v)
		return b, nil
	}
	if err := httpx.ParseJSON(data, &b); err != nil {
		return b, err
	}
	return b, nil
}

// fromForm sets the fields present in v (the first value of each).
func (b *body) fromForm(v url.Values) {
	for name, field := range b.formFields() {
		if vs, ok := v[name]; ok && len(vs) > 0 {
			s := vs[0]
			*field = &s
		}
	}
}

// readBody reads and decodes r's body, answering the client itself when it cannot: 400, 408
// or 413 in the dialect's shape. It reports whether the handler may go on.
func readBody(w http.ResponseWriter, r *http.Request, required bool) (body, bool) {
	data, err := httpx.ReadBody(r, httpx.MaxBodyBytes)
	var b body
	if err == nil {
		b, err = parseBody(r.Header.Get("Content-Type"), data, required)
	}
	if err == nil {
		return b, true
	}
	httpx.WriteBodyError(w, r, err, writeError)
	return body{}, false
}
