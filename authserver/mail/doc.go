// Package mail renders the reset and confirmation emails and sends them over SMTP, to a log, or through a retrying outbox.
package mail
