package server

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchauth/latch/authserver/metrics"
	"github.com/latchauth/latch/authserver/socket"
	"github.com/latchauth/latch/authserver/store"
)

// newHub builds the process's one socket hub, which holds the live sockets of the dialect
// that has them and pushes them that dialect's push message when their session ends on any
// replica. Its Stats are exported on the server's registry. Listening and shutdown are the
// caller's: Listen before serving, Shutdown beside the drain.
func newHub(st store.Store, m *metrics.Metrics, push []byte, logger *slog.Logger) (*socket.Hub, error) {
	hub, err := socket.New(socket.Config{
		Sessions:  st,
		ClosePush: push,
		Logger:    logger.With("component", "socket"),
	})
	if err != nil {
		return nil, err
	}
	m.Registry.MustRegister(hubCollector{hub})
	return hub, nil
}

// hubCollector exports a hub's Stats, read once per scrape so the series of one scrape agree.
type hubCollector struct{ hub *socket.Hub }

var (
	hubConnections = prometheus.NewDesc("latch_socket_connections",
		"Live WebSocket connections on this process.", nil, nil)
	hubBoundConnections = prometheus.NewDesc("latch_socket_bound_connections",
		"Live WebSocket connections bound to a session.", nil, nil)
	hubBoundSessions = prometheus.NewDesc("latch_socket_bound_sessions",
		"Sessions with at least one bound WebSocket connection on this process.", nil, nil)
	hubSubscribed = prometheus.NewDesc("latch_socket_revocations_subscribed",
		"1 while the subscription to the cluster's revocations is in place, else 0.", nil, nil)
	hubSlowPeers = prometheus.NewDesc("latch_socket_slow_peers_dropped_total",
		"Connections dropped because their send queue was full.", nil, nil)
	hubClosesPushed = prometheus.NewDesc("latch_socket_close_pushes_total",
		"Close pushes queued, one per connection of an ended session.", nil, nil)
	hubSessionsEnded = prometheus.NewDesc("latch_socket_sessions_ended_total",
		"Sessions whose bound connections were closed here (revocation, expiry or resync).", nil, nil)
	hubExpiryChecks = prometheus.NewDesc("latch_socket_expiry_checks_total",
		"Store re-checks run because a bound session reached its deadline.", nil, nil)
	hubResyncs = prometheus.NewDesc("latch_socket_resyncs_total",
		"Completed re-checks of every bound session after a gap in the revocation feed.", nil, nil)
)

// Describe implements prometheus.Collector.
func (hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{hubConnections, hubBoundConnections, hubBoundSessions, hubSubscribed,
		hubSlowPeers, hubClosesPushed, hubSessionsEnded, hubExpiryChecks, hubResyncs} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.hub.Stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	subscribed := 0.0
	if s.Subscribed {
		subscribed = 1
	}
	gauge(hubConnections, float64(s.Connections))
	gauge(hubBoundConnections, float64(s.BoundConnections))
	gauge(hubBoundSessions, float64(s.BoundSessions))
	gauge(hubSubscribed, subscribed)
	counter(hubSlowPeers, s.SlowPeersDropped)
	counter(hubClosesPushed, s.ClosesPushed)
	counter(hubSessionsEnded, s.SessionsEnded)
	counter(hubExpiryChecks, s.ExpiryChecks)
	counter(hubResyncs, s.Resyncs)
}
