// Command chaos is `make chaos` (issue 13, faults under load): it starts a real Redis
// topology and two real `latch server` replicas on loopback, drives every dialect with
// concurrent clients, injects one fault at a time, and checks what the clients were told
// against what the servers then did. It writes CHAOS.md; `go test ./hack/chaos` runs the
// same scenarios briefly (TestFaultsShort) and asserts the invariants that do not depend on
// timings.
//
// The pieces, each a small value so that adding one is a few lines:
//
//   - topology (topology.go): standalone with AOF, master + replica + 3 Sentinels, a
//     3-master + 3-replica Cluster, started with authserver/store/redistest.
//   - fault (faults.go): a name, a topology, what it takes from the store (nothing, writes,
//     everything), which lost writes it excuses, and an inject that returns its undo. The
//     undo returns when Redis is back, the moment every recovery figure is measured from.
//   - the replicas (replicas.go) are servertest servers sharing one config file, the
//     killed one restarted as a Sibling; the harness's TB (tb.go) lets servertest and
//     redistest run outside `go test`.
//   - the load (workload.go, sockets.go, api.go): clients holding sessions in every dialect
//     (checks, deviseToken rotation kept as j-toker keeps it, logins, logouts, keyToken
//     refreshes), socket workers binding a reactAuth socket to an account session on one
//     replica and logging it out on the other, a re-checker that presents every ended
//     credential to both replicas for the rest of the run, and /readyz polled every 100 ms.
//   - the figures and invariants (result.go), the report (report.go).
//
// What a client knows is what it was answered: a session is live once its login answered
// success, ended once its logout or refresh answered success. A request whose answer never
// came (or came as a 5xx) may or may not have taken effect; the client then forgets the
// credential rather than blame the server for a refusal it cannot judge ("uncertain").
//
// Invariants are never relaxed to what the server does today: a failing one is reported as
// a server defect, with its figures.
package main
