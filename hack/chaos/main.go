package main

import "fmt"

func summaryLine(r *result) string {
	f := r.fig
	return fmt.Sprintf("%s: %d requests, %d ok, %d expected 401, %d unexpected 401, %d 5xx, %d no answer; revoked-accepted %d; lost %d (+%d in window); sockets %d, missed %d, late %d, close p50 %s max %s; fault %s, first success %s, last error %s after back",
		r.fault.name, f.Requests, f.OK, f.Expected401, f.Unexpected401, f.Server, f.Transport, f.RevokedAccepted, f.Lost, f.LostWindow,
		f.Sockets, f.Missed, f.Late, fmtDur(f.CloseP50), fmtDur(f.CloseMax), fmtDur(f.FaultLasted), fmtDur(f.FirstSuccess), fmtDur(f.ErrorFree))
}

func main() {}
