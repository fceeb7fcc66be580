package httpx

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how far back X-Forwarded-For is walked: no real chain of proxies is
// this long, and the walk must not cost more for a hostile header.
const maxForwardedHops = 16

// ParseTrustedProxies parses CIDRs (config.BruteForce.TrustedProxies).
func ParseTrustedProxies(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, c := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("bruteForce.trustedProxies[%d]: %w", i, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// clientIP returns the address brute-force limits and audit logs are keyed by. It is the TCP
// peer, unless the peer is a trusted proxy: then X-Forwarded-For is walked from the right
// (the entries appended by our own proxies) to the first address that is not a trusted proxy.
// Entries further left were written by the client and are never believed, so a client cannot
// pick the address it is counted under.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		// Only a non-TCP listener (a test's, a Unix socket) gives no address; every such
		// request shares one brute-force counter, which fails safe.
		return "unknown"
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := forwardedHops(r.Header.Values("X-Forwarded-For"))
	client := peer
	for i := len(hops) - 1; i >= 0 && len(hops)-i <= maxForwardedHops; i-- {
		a, ok := parseHost(strings.TrimSpace(hops[i]))
		if !ok {
			// A garbled entry: the last address we could trust is the best we know.
			break
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client.String()
}

// forwardedHops splits every X-Forwarded-For line into its comma-separated entries, in order.
func forwardedHops(lines []string) []string {
	var hops []string
	for _, l := range lines {
		hops = append(hops, strings.Split(l, ",")...)
	}
	return hops
}

// parseHost reads "ip", "ip:port" or "[ipv6]:port" and unmaps IPv4-in-IPv6, so one client has
// one spelling whichever way it connected.
func parseHost(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
