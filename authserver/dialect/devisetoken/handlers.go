package devisetoken

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// register: POST {prefix} {email,password,password_confirmation,...} → 200
// {"status":"success","data":{user}} with the auth headers (none while the user must still
// confirm the email); 422 with the record's errors. With confirm_success_url (checked against
// the allowed origins) and the realm's publicURL, the confirmation mail links to GET
// {prefix}/confirmation, which redirects there; otherwise to the realm's email.confirmURL.
func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, true)
	if !ok {
		return
	}
	email := store.NormalizeLogin(str(b.Email))
	first, last := strings.TrimSpace(str(b.FirstName)), strings.TrimSpace(str(b.LastName))
	if first == "" && last == "" {
		// devise's default column is name; the core keeps first and last names.
		first = strings.TrimSpace(str(b.Name))
	}
	refuse := func(errs *fieldErrors) {
		httpx.WriteJSON(w, http.StatusUnprocessableEntity, registrationError{
			Status: "error",
			Data: unsavedUser{
				Provider: provider, Email: email,
				Name: fullName(first, last), FirstName: first, LastName: last,
			},
			Errors: errs,
		})
	}

	// devise validates the whole record and reports every error at once; the core stops at
	// the first, so the checks a client can fix together are made here first.
	var errs fieldErrors
	switch {
	case email == "":
		errs.add("email", "can't be blank")
	case !isEmail(email):
		errs.add("email", "is not an email")
	}
	pw := str(b.Password)
	if pw == "" {
		errs.add("password", "can't be blank")
	} else if err := h.Core.Passwords.Policy().Check(pw); err != nil {
		errs.add("password", policyMessage(err))
	}
	if b.PasswordConfirmation != nil && !equal(*b.PasswordConfirmation, pw) {
		errs.add("password_confirmation", "doesn't match Password")
	}
	var confirmTo *url.URL
	if b.ConfirmSuccessURL != nil {
		var ok bool
		if confirmTo, ok = h.redirect.check(*b.ConfirmSuccessURL); !ok {
			writeError(w, r, http.StatusUnprocessableEntity, msgConfirmRefused)
			return
		}
	}
	if !errs.empty() {
		refuse(&errs)
		return
	}

	m := h.Meta(r)
	u, err := h.Core.Register(r.Context(), m, core.Registration{
		Login: email, Email: email, Password: pw, FirstName: first, LastName: last,
		ConfirmLink: h.confirmLink(confirmTo),
	})
	var field *core.FieldError
	switch {
	case errors.As(err, &field):
		errs.add(registrationField(field.Field), field.Reason)
	case errors.Is(err, core.ErrLoginTaken):
		errs.add("email", "has already been taken")
	case errors.Is(err, core.ErrWeakPassword):
		errs.add("password", policyMessage(err))
	case errors.Is(err, core.ErrRegistrationClosed):
		errs.add("base", "Registration is closed.")
	case errors.Is(err, core.ErrRateLimited):
		writeError(w, r, http.StatusTooManyRequests, msgRateLimited)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	if !errs.empty() {
		refuse(&errs)
		return
	}
	if h.Core.MayLogIn(u) {
		is, err := h.Core.IssueSession(r.Context(), m, u, h.sessionOptions(h.settings.DevicePolicy, ""))
		if err != nil {
			// The account exists; the client can sign in once the store answers again.
			h.InternalError(w, r, err)
			return
		}
		setAuthHeaders(w, authOf(u, is))
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
		Data   user   `json:"data"`
	}{"success", userOf(u)})
}

// isEmail accepts one bare address, as the core does for its email field.
func isEmail(s string) bool {
	if len(s) > store.MaxLoginLen {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// policyMessage turns the password policy's refusal ("password is too short (minimum is 8
// characters)") into devise's attribute message ("is too short (minimum is 8 characters)").
func policyMessage(err error) string {
	if errors.Is(err, password.ErrNotUTF8) {
		return "is not valid text"
	}
	return strings.TrimPrefix(err.Error(), "password ")
}

// registrationField names a core registration field as devise's attribute.
func registrationField(f string) string {
	switch f {
	case "login", "email":
		return "email"
	case "firstName":
		return "first_name"
	case "lastName":
		return "last_name"
	}
	return "base"
}

// signIn: POST {prefix}/sign_in {email,password} → 200 {"data":{user}} with the auth headers;
// 401 with one answer for every failure.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, true)
	if !ok {
		return
	}
	// A device signing in again presents its client: its old session makes room for the new.
	var replaces string
	if c := requestCredentials(r, &b); token.ValidID(c.Client) {
		replaces = c.Client
	}
	m := h.Meta(r)
	m.Device = httpx.DeviceCookie(r, h.Config)
	u, is, err := h.Core.Login(r.Context(), m, core.LoginRequest{
		Login: str(b.Email), Password: str(b.Password),
		Session: h.sessionOptions(h.settings.DevicePolicy, replaces),
	})
	switch {
	case errors.Is(err, core.ErrInvalidCredentials):
		writeError(w, r, http.StatusUnauthorized, msgBadCredentials)
		return
	case errors.Is(err, core.ErrDeviceLimit):
		writeError(w, r, http.StatusUnauthorized, msgDeviceLimit)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	setAuthHeaders(w, authOf(u, is))
	httpx.SetDeviceCookie(w, h.Config, is.Device)
	httpx.WriteJSON(w, http.StatusOK, struct {
		Data user `json:"data"`
	}{userOf(u)})
}

// validateToken: GET {prefix}/validate_token → 200 {"success":true,"data":{user}} with the
// rotated (or, inside the batch buffer, echoed) headers; 401 otherwise.
func (h *Handler) validateToken(w http.ResponseWriter, r *http.Request) {
	a, err := h.authenticate(r, requestCredentials(r, nil))
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusUnauthorized, msgInvalidToken)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	setAuthHeaders(w, a)
	httpx.WriteJSON(w, http.StatusOK, struct {
		Success bool `json:"success"`
		Data    user `json:"data"`
	}{true, userOf(a.User)})
}

// signOut: DELETE {prefix}/sign_out → 200 {"success":true} and the session ends; 404
// otherwise. The token is checked and the session revoked in one store step.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, false)
	if !ok {
		return
	}
	c := requestCredentials(r, &b)
	tok, err := token.ParseSessionToken(c.AccessToken)
	if err != nil || !equal(c.client(), tok.SessionID) || c.UID == "" {
		writeError(w, r, http.StatusNotFound, msgNotSignedIn)
		return
	}
	err = h.Core.Logout(r.Context(), h.Meta(r), c.AccessToken)
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusNotFound, msgNotSignedIn)
	case err != nil:
		// The session may still be live: do not tell the client it is gone.
		h.InternalError(w, r, err)
	default:
		httpx.WriteJSON(w, http.StatusOK, struct {
			Success bool `json:"success"`
		}{true})
	}
}

// forgotPassword: POST {prefix}/password {email,redirect_url} → 200 with one message whatever
// the email; a reset mail goes to a known one. With redirect_url and the realm's publicURL its
// link is devise's, {publicURL}{prefix}/password/edit?reset_password_token=…&redirect_url=…
// (editPassword); otherwise the realm's email.resetURL page.
func (h *Handler) forgotPassword(w http.ResponseWriter, r *http.Request) {
	h.mailRequest(w, r, http.StatusUnprocessableEntity, msgResetSent, h.Core.Forgot, func(to *url.URL) core.LinkFunc {
		return h.apiLink("/password/edit", "reset_password_token", to.String())
	})
}

// mailRequest is a request that mails the user a link, answered the same whatever the email:
// POST password (a reset) and POST confirmation (a resend). A missing email is devise's
// missing status; a redirect_url outside the allowed origins is 422; with an allowed one the
// mail links to the API (linkTo), otherwise to the realm's page; past the rate limits 429.
func (h *Handler) mailRequest(w http.ResponseWriter, r *http.Request, missing int, sent string,
	send func(ctx context.Context, m core.Meta, email string, link core.LinkFunc) error, linkTo func(*url.URL) core.LinkFunc) {
	b, ok := readBody(w, r, true)
	if !ok {
		return
	}
	email := strings.TrimSpace(str(b.Email))
	if email == "" {
		writeError(w, r, missing, msgMissingEmail)
		return
	}
	var link core.LinkFunc
	if b.RedirectURL != nil {
		to, ok := h.redirect.check(*b.RedirectURL)
		if !ok {
			writeError(w, r, http.StatusUnprocessableEntity, msgRedirectRefused)
			return
		}
		link = linkTo(to)
	}
	err := send(r.Context(), h.Meta(r), email, link)
	switch {
	case errors.Is(err, core.ErrRateLimited):
		writeError(w, r, http.StatusTooManyRequests, msgRateLimited)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
	}{true, sent})
}

// editPassword: GET {prefix}/password/edit?reset_password_token=…&redirect_url=… spends the
// reset token, signs the user in and redirects (302) to redirect_url with the credentials in
// its query; 401 otherwise. The redirect is checked before the token is spent.
func (h *Handler) editPassword(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.RawQuery) > maxQueryLen {
		writeError(w, r, http.StatusUnauthorized, msgResetInvalid)
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, r, http.StatusUnauthorized, msgResetInvalid)
		return
	}
	raw := q.Get("redirect_url")
	if raw == "" {
		writeError(w, r, http.StatusUnauthorized, msgRedirectMissing)
		return
	}
	target, ok := h.redirect.check(raw)
	if !ok {
		writeError(w, r, http.StatusUnauthorized, msgRedirectRefused)
		return
	}
	reset, ok := resetToken(q)
	if !ok {
		writeError(w, r, http.StatusUnauthorized, msgResetInvalid)
		return
	}
	m := h.Meta(r)
	u, err := h.Core.RedeemResetToken(r.Context(), m, reset.UserID, reset.Secret)
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusUnauthorized, msgResetInvalid)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	if !h.Core.MayLogIn(u) {
		h.InternalError(w, r, errors.New("a redeemed reset link left the account unable to log in"))
		return
	}
	opts := h.sessionOptions(config.EvictOldest, "")
	// The user has forgotten the password: this session may set one without it, once.
	opts.PasswordChangeWindow = h.settings.AllowPasswordChangeFor.Duration
	is, err := h.Core.IssueSession(r.Context(), m, u, opts)
	if err != nil {
		h.InternalError(w, r, err)
		return
	}
	a := authOf(u, is)
	params := url.Values{
		keyAccessToken:   {a.Token.String()},
		keyClient:        {a.Session.ID},
		keyUID:           {u.Login},
		keyExpiry:        {strconv.FormatInt(a.Session.Deadline().Unix(), 10)},
		"reset_password": {"true"},
		// devise's legacy names, still read by angular-token and ng-token-auth.
		"token":     {a.Token.String()},
		"client_id": {a.Session.ID},
	}
	w.Header().Set("Location", redirectLocation(target, params))
	// The target page's URL now holds a session: keep it out of Referer headers from here.
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusFound)
}

// resetToken reads the reset token: devise's reset_password_token (here
// `<userID>.<secret>`), or the uid and t of the realm's reset link.
func resetToken(q url.Values) (token.UserToken, bool) {
	if s := q.Get("reset_password_token"); s != "" {
		t, err := token.ParseUserToken(s)
		return t, err == nil
	}
	t := token.UserToken{UserID: q.Get("uid"), Secret: q.Get("t")}
	return t, token.ValidID(t.UserID) && token.ValidSecret(t.Secret)
}

// updatePassword: PUT {prefix}/password {password,password_confirmation,current_password}
// (authenticated) → 200 {"success":true,"data":{user},"message":…}; every other session of
// the user ends and a notice is mailed. current_password is required (devise's
// check_current_password_before_update), except on the session a reset link opened, once,
// within protocols.deviseToken.allowPasswordChangeFor, or everywhere with
// currentPasswordOptional. 401 without a valid session, 422 for a refused password or a
// missing or wrong current one (which counts like a failed sign-in). Every answer after
// authentication carries the rotated headers: the client's token has changed.
func (h *Handler) updatePassword(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, true)
	if !ok {
		return
	}
	a, err := h.authenticate(r, requestCredentials(r, &b))
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		writeError(w, r, http.StatusUnauthorized, msgUnauthorized)
		return
	case err != nil:
		h.InternalError(w, r, err)
		return
	}
	setAuthHeaders(w, a)

	pw, confirm, current := str(b.Password), str(b.PasswordConfirmation), str(b.CurrentPassword)
	if pw == "" || confirm == "" {
		writeError(w, r, http.StatusUnprocessableEntity, msgMissingPasswords)
		return
	}
	// devise validates the whole record and reports every error at once: a blank
	// current_password beside the new password's errors. A wrong one is known only after the
	// check, which runs when nothing else is wrong, so a refused request is not counted.
	var errs fieldErrors
	if current == "" && !h.settings.CurrentPasswordOptional && !h.Core.Now().Before(a.Session.PasswordChangeUntil) {
		errs.add("current_password", "can't be blank")
	}
	if err := h.Core.Passwords.Policy().Check(pw); err != nil {
		errs.add("password", policyMessage(err))
	}
	if !equal(pw, confirm) {
		errs.add("password_confirmation", "doesn't match Password")
	}
	if errs.empty() {
		// A wrong current password is judged like a sign-in: from a device that signed in
		// before, by that device's own counter.
		m := h.Meta(r)
		m.Device = httpx.DeviceCookie(r, h.Config)
		err = h.Core.ChangePassword(r.Context(), m, a, core.PasswordChange{
			Current: current, SessionSuffices: h.settings.CurrentPasswordOptional, New: pw,
		})
		switch {
		case errors.Is(err, core.ErrInvalidCredentials):
			errs.add("current_password", "is invalid")
		case errors.Is(err, core.ErrPasswordRequired):
			// The leave ran out, or a racing request spent it.
			errs.add("current_password", "can't be blank")
		case errors.Is(err, core.ErrWeakPassword):
			errs.add("password", policyMessage(err))
		case errors.Is(err, core.ErrInvalidToken):
			// The session ended while the password was being changed: its headers are void.
			clearAuthHeaders(w)
			writeError(w, r, http.StatusUnauthorized, msgUnauthorized)
			return
		case err != nil:
			h.InternalError(w, r, err)
			return
		}
	}
	if !errs.empty() {
		httpx.WriteJSON(w, http.StatusUnprocessableEntity, recordError{Errors: &errs})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Success bool   `json:"success"`
		Data    user   `json:"data"`
		Message string `json:"message"`
	}{true, userOf(a.User), msgPasswordUpdated})
}

// apiLink returns the LinkFunc of a mail that links to this dialect's path on the realm's
// public URL with the one-time token `<userID>.<secret>` in tokenParam and redirect as
// redirect_url, as devise_token_auth's mails do; nil (the realm's page) without a publicURL.
func (h *Handler) apiLink(path, tokenParam, redirect string) core.LinkFunc {
	if h.Config.PublicURL == "" {
		return nil
	}
	base := h.Config.PublicURL + httpx.Join(h.settings.Prefix, path)
	return func(userID, secret string) string {
		q := url.Values{tokenParam: {userID + "." + secret}, "redirect_url": {redirect}}
		return base + "?" + q.Encode()
	}
}

// confirmLink is apiLink for GET {prefix}/confirmation, or nil without a confirm_success_url.
func (h *Handler) confirmLink(to *url.URL) core.LinkFunc {
	if to == nil {
		return nil
	}
	return h.apiLink("/confirmation", "confirmation_token", to.String())
}

// confirm: GET {prefix}/confirmation?confirmation_token=…&redirect_url=… confirms the email
// and redirects (302) to redirect_url with account_confirmation_success=true, or =false when
// the token is spent, expired or unknown, as devise_token_auth does. Without a redirect_url:
// 200 {"success":true,"message":…}, or 404 for a bad token. A redirect_url outside the allowed
// origins is 422 and spends nothing.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.RawQuery) > maxQueryLen {
		writeError(w, r, http.StatusNotFound, msgConfirmInvalid)
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, r, http.StatusNotFound, msgConfirmInvalid)
		return
	}
	var target *url.URL
	if raw := q.Get("redirect_url"); raw != "" {
		var ok bool
		if target, ok = h.redirect.check(raw); !ok {
			writeError(w, r, http.StatusUnprocessableEntity, msgRedirectRefused)
			return
		}
	}
	err = core.ErrInvalidToken
	if t, perr := token.ParseUserToken(q.Get("confirmation_token")); perr == nil {
		_, err = h.Core.Confirm(r.Context(), h.Meta(r), t.UserID, t.Secret)
	}
	confirmed := err == nil
	if err != nil && !errors.Is(err, core.ErrInvalidToken) && !errors.Is(err, core.ErrLoginTaken) {
		h.InternalError(w, r, err)
		return
	}
	switch {
	case target != nil:
		w.Header().Set("Location", redirectLocation(target, url.Values{"account_confirmation_success": {strconv.FormatBool(confirmed)}}))
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.WriteHeader(http.StatusFound)
	case confirmed:
		httpx.WriteJSON(w, http.StatusOK, struct {
			Success bool   `json:"success"`
			Message string `json:"message"`
		}{true, msgConfirmed})
	default:
		writeError(w, r, http.StatusNotFound, msgConfirmInvalid)
	}
}

// resendConfirmation: POST {prefix}/confirmation {email,redirect_url} → 200 with one message
// whatever the email; a pending user gets a new confirmation mail (linking to GET
// {prefix}/confirmation when redirect_url is given). 401 without an email (devise's answer),
// 422 for a refused redirect_url, 429 past rateLimits.confirmation.
func (h *Handler) resendConfirmation(w http.ResponseWriter, r *http.Request) {
	h.mailRequest(w, r, http.StatusUnauthorized, msgConfirmSent, h.Core.ResendConfirmation, h.confirmLink)
}
