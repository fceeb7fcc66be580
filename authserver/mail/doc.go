// Package mail renders the reset and confirmation emails and the notices of password and email changes, and sends them over SMTP, to a log, or through a retrying outbox.
package mail
