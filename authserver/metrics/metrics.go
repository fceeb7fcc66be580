package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values used when the caller has none, so every series has every label.
const (
	// NoDialect labels requests that matched no dialect (an unknown path outside every prefix).
	NoDialect = "none"
	// NoRoute labels requests that matched no route of their dialect.
	NoRoute = "unmatched"
)

// Metrics is one server's collectors. Each server owns its registry, never the global one, so
// tests can run several servers in one process and each /metrics shows its own server only.
// A nil *Metrics is valid and records nothing, for tests that do not look at metrics.
type Metrics struct {
	// Registry holds every collector below plus the Go runtime and process collectors.
	Registry *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	operations      *prometheus.CounterVec
	opDuration      *prometheus.HistogramVec
	lockouts        *prometheus.CounterVec

	// requestSeries and opSeries cache the children of each label set (seriesKey -> series):
	// WithLabelValues hashes the labels and takes the vector's lock on every call, four times
	// per request, which showed in the session-check profile. Labels come from fixed sets, so
	// the caches stay small.
	requestSeries, opSeries sync.Map
}

type seriesKey struct{ a, b, c string }

// series is a counter and a histogram of one label set.
type series struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// seriesOf returns the cached children of key, creating them on first use.
func seriesOf(cache *sync.Map, key seriesKey, c *prometheus.CounterVec, h *prometheus.HistogramVec) series {
	if v, ok := cache.Load(key); ok {
		return v.(series)
	}
	s := series{count: c.WithLabelValues(key.a, key.b, key.c), duration: h.WithLabelValues(key.a, key.b, key.c)}
	cache.Store(key, s)
	return s
}

// New returns a fresh set of collectors in a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_http_requests_total",
			Help: "HTTP requests answered on the public port, by dialect, route and status code.",
		}, []string{"dialect", "route", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "latch_http_request_duration_seconds",
			Help: "Time to answer an HTTP request on the public port, by dialect, route and status code.",
			// From a cached token check (sub-millisecond) to an argon2id hash behind a queue.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"dialect", "route", "code"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_auth_operations_total",
			Help: "Core operations (login, register, logout, ...) by dialect, operation and outcome.",
		}, []string{"dialect", "operation", "outcome"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "latch_auth_operation_duration_seconds",
			Help: "Time spent in a core operation by dialect, operation and outcome. Failed and " +
				"successful logins should take about the same time.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"dialect", "operation", "outcome"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_lockouts_total",
			Help: "Brute-force locks set, by dialect and subject (login, ip, login_ip, device): " +
				"each is a failure that reached its subject's limit. Attempts the lock then " +
				"refuses are counted as invalid_credentials operations, like any failure.",
		}, []string{"dialect", "subject"}),
	}
	m.Registry.MustRegister(
		m.requests, m.requestDuration, m.operations, m.opDuration, m.lockouts,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ObserveRequest records one answered HTTP request.
func (m *Metrics) ObserveRequest(dialect, route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	dialect, route = orDefault(dialect, NoDialect), orDefault(route, NoRoute)
	s := seriesOf(&m.requestSeries, seriesKey{dialect, route, strconv.Itoa(code)}, m.requests, m.requestDuration)
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

// ObserveOperation records one core operation. Outcomes must come from a fixed set (the core's
// outcome constants): labels are never built from client input.
func (m *Metrics) ObserveOperation(dialect, operation, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	dialect = orDefault(dialect, NoDialect)
	s := seriesOf(&m.opSeries, seriesKey{dialect, operation, outcome}, m.operations, m.opDuration)
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

// ObserveLockout records one brute-force lock set on a subject of the given kind (a fixed
// set: login, ip, login_ip, device).
func (m *Metrics) ObserveLockout(dialect, subject string) {
	if m == nil {
		return
	}
	m.lockouts.WithLabelValues(orDefault(dialect, NoDialect), subject).Inc()
}

// PoolStats is what the password pool reports (password.Pool implements it).
type PoolStats interface {
	Running() int
	Queued() int
}

// WatchPasswordPool exports the pool's running and queued hash computations and its size.
// Call it once per pool.
func (m *Metrics) WatchPasswordPool(p PoolStats, workers, queue int) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latch_password_hash_running",
			Help: "Password hash computations in progress.",
		}, func() float64 { return float64(p.Running()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latch_password_hash_queued",
			Help: "Requests waiting for a password hashing worker.",
		}, func() float64 { return float64(p.Queued()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latch_password_hash_workers",
			Help: "Password hashing workers (passwords.hashWorkers).",
		}, func() float64 { return float64(workers) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latch_password_hash_queue_capacity",
			Help: "Requests that may wait for a worker before logins fail (passwords.hashQueue).",
		}, func() float64 { return float64(queue) }),
	)
}

// WatchStoreRoundTrips exports a running count of store round trips (requests and pipelines
// sent to Redis), read from count.
func (m *Metrics) WatchStoreRoundTrips(count func() int64) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "latch_store_round_trips_total",
		Help: "Round trips to Redis: commands and pipelines sent, each one request and one reply.",
	}, func() float64 { return float64(count()) }))
}

// StoreHealth is what the store's health monitor reports (redisstore.Health implements it).
type StoreHealth interface {
	// Up reports whether the last command that said anything about Redis succeeded.
	Up() bool
	// UnavailableErrors and OtherErrors count failed commands and pipelines: Redis not
	// answering (or answering "not now"), and error replies that are bugs.
	UnavailableErrors() int64
	OtherErrors() int64
	// Outages counts the outages begun.
	Outages() int64
}

// StorePool is the Redis client's connection pool at one moment (go-redis's PoolStats).
type StorePool struct {
	// Hits, Misses, Timeouts and Stale count since the client started: a free connection found,
	// none found (a new one dialed), a wait for one that timed out, one dropped as stale.
	Hits, Misses, Timeouts, Stale uint64
	// Total and Idle are the connections now.
	Total, Idle uint64
}

// StoreCounters are the Redis store's own counters (redisstore.Stats).
type StoreCounters struct {
	ReadFallbacks, FenceFailures, Resubscribes int64
	// Failovers counts the Sentinel failovers heard; FailoverUnderWay is set while one lasts.
	Failovers        int64
	FailoverUnderWay bool
	// LastRevocationMessage is when the revocation channel was last heard from; zero before.
	LastRevocationMessage time.Time
}

// StoreSources are what WatchStore reads at each scrape; a nil field exports nothing of its
// kind.
type StoreSources struct {
	Health   StoreHealth
	Pool     func() StorePool
	Counters func() StoreCounters
	// MasterChanges counts the Sentinel master changes go-redis reported (process-wide).
	MasterChanges func() int64
}

// WatchStore exports the Redis store's health, connection pool and counters, read on each
// scrape. Call it once per store.
func (m *Metrics) WatchStore(src StoreSources) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(&storeCollector{src: src})
}

var (
	storeUpDesc = prometheus.NewDesc("latch_store_up",
		"1 while Redis answers the store's commands, 0 before the first answer and during an outage.", nil, nil)
	storeErrorsDesc = prometheus.NewDesc("latch_store_errors_total",
		"Store commands and pipelines that failed: kind=unavailable (Redis unreachable, timing out or "+
			"answering LOADING, READONLY, OOM...), kind=other (an error reply that is a bug).", []string{"kind"}, nil)
	storeOutagesDesc = prometheus.NewDesc("latch_store_outages_total",
		"Redis outages begun (each logged once as \"redis unavailable\").", nil, nil)
	storeMasterChangesDesc = prometheus.NewDesc("latch_store_master_changes_total",
		"Sentinel master changes the Redis client followed (process-wide).", nil, nil)
	poolHitsDesc = prometheus.NewDesc("latch_store_pool_hits_total",
		"Store commands that found a free connection in the pool.", nil, nil)
	poolMissesDesc = prometheus.NewDesc("latch_store_pool_misses_total",
		"Store commands that found no free connection in the pool and dialed one.", nil, nil)
	poolTimeoutsDesc = prometheus.NewDesc("latch_store_pool_timeouts_total",
		"Store commands that timed out waiting for a pool connection (pool exhausted).", nil, nil)
	poolStaleDesc = prometheus.NewDesc("latch_store_pool_stale_connections_total",
		"Pool connections dropped as stale (idle too long or too old).", nil, nil)
	poolConnsDesc = prometheus.NewDesc("latch_store_pool_connections",
		"Connections in the store's pool now: state=total (open) and state=idle (free).", []string{"state"}, nil)
	readFallbacksDesc = prometheus.NewDesc("latch_store_read_fallbacks_total",
		"Session checks answered from a plain read because Redis refused the idle-window write: served, not slid.", nil, nil)
	fenceFailuresDesc = prometheus.NewDesc("latch_store_fence_failures_total",
		"Writes the master took but too few replicas acknowledged in time, answered as unavailable.", nil, nil)
	failoversDesc = prometheus.NewDesc("latch_store_failovers_total",
		"Sentinel failovers of the realm's master this replica heard announced.", nil, nil)
	failoverDesc = prometheus.NewDesc("latch_store_failover_in_progress",
		"1 while a Sentinel failover of the realm's master is under way (writes that end or change a session are refused).", nil, nil)
	resubscribesDesc = prometheus.NewDesc("latch_revocation_resubscribes_total",
		"Revocation subscriptions renewed because they went silent.", nil, nil)
	lastMessageAgeDesc = prometheus.NewDesc("latch_revocation_last_message_age_seconds",
		"Seconds since the revocation channel was last heard from (a revocation or a heartbeat); "+
			"absent before the first message.", nil, nil)
)

// storeCollector reads its sources once per scrape.
type storeCollector struct{ src StoreSources }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.src.Health != nil {
		ch <- storeUpDesc
		ch <- storeErrorsDesc
		ch <- storeOutagesDesc
	}
	if c.src.MasterChanges != nil {
		ch <- storeMasterChangesDesc
	}
	if c.src.Pool != nil {
		ch <- poolHitsDesc
		ch <- poolMissesDesc
		ch <- poolTimeoutsDesc
		ch <- poolStaleDesc
		ch <- poolConnsDesc
	}
	if c.src.Counters != nil {
		ch <- readFallbacksDesc
		ch <- fenceFailuresDesc
		ch <- failoversDesc
		ch <- failoverDesc
		ch <- resubscribesDesc
		ch <- lastMessageAgeDesc
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if h := c.src.Health; h != nil {
		up := 0.0
		if h.Up() {
			up = 1
		}
		gauge(storeUpDesc, up)
		counter(storeErrorsDesc, float64(h.UnavailableErrors()), "unavailable")
		counter(storeErrorsDesc, float64(h.OtherErrors()), "other")
		counter(storeOutagesDesc, float64(h.Outages()))
	}
	if c.src.MasterChanges != nil {
		counter(storeMasterChangesDesc, float64(c.src.MasterChanges()))
	}
	if c.src.Pool != nil {
		p := c.src.Pool()
		counter(poolHitsDesc, float64(p.Hits))
		counter(poolMissesDesc, float64(p.Misses))
		counter(poolTimeoutsDesc, float64(p.Timeouts))
		counter(poolStaleDesc, float64(p.Stale))
		gauge(poolConnsDesc, float64(p.Total), "total")
		gauge(poolConnsDesc, float64(p.Idle), "idle")
	}
	if c.src.Counters != nil {
		st := c.src.Counters()
		counter(readFallbacksDesc, float64(st.ReadFallbacks))
		counter(fenceFailuresDesc, float64(st.FenceFailures))
		counter(failoversDesc, float64(st.Failovers))
		inProgress := 0.0
		if st.FailoverUnderWay {
			inProgress = 1
		}
		gauge(failoverDesc, inProgress)
		counter(resubscribesDesc, float64(st.Resubscribes))
		if !st.LastRevocationMessage.IsZero() {
			gauge(lastMessageAgeDesc, time.Since(st.LastRevocationMessage).Seconds())
		}
	}
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		// A scrape must not be able to hold the admin port forever.
		Timeout:           10 * time.Second,
		EnableOpenMetrics: true,
	})
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
