// Package admin is the `latch admin` command: a realm's user and session administration,
// run with the realm's own server config file (inside a server pod with kubectl exec, which
// `kubectl latch` does, or locally against make run's Redis). It opens the realm's store,
// runs core.Admin's actions, and prints a table or JSON (-o json). Every change is an audit
// event naming the actor, written to --audit-log (a server pod's log stream when kubectl latch
// runs it there). Users are listed with Redis SCAN over every master, never KEYS.
package admin
