package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus metrics, labelled by route name (an FQDN or
// "tcp:PORT"/"udp:PORT").
type metrics struct {
	requests  *prometheus.CounterVec   // name, code
	bytes     *prometheus.CounterVec   // name, direction (in: from clients, out: to clients)
	up        *prometheus.GaugeVec     // name, backend
	latency   *prometheus.HistogramVec // name: HTTP request duration
	connect   *prometheus.HistogramVec // name: backend connect time
	conns     *prometheus.GaugeVec     // name: open connections / UDP sessions
	refused   *prometheus.CounterVec   // reason
	applied   prometheus.Gauge         // routes in the table
	applyErrs prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zosnet_gateway_requests_total",
			Help: "HTTP requests (and raw TCP connections, code \"conn\") per route name and status code"}, []string{"name", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zosnet_gateway_bytes_total",
			Help: "bytes relayed per route name; in: from clients, out: to clients"}, []string{"name", "direction"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zosnet_gateway_backend_up",
			Help: "1 when a backend passes its health checks"}, []string{"name", "backend"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zosnet_gateway_request_duration_seconds",
			Help: "HTTP request duration through the gateway, to the end of the response", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"name"}),
		connect: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zosnet_gateway_backend_connect_seconds",
			Help: "time to connect to a backend over the user's network", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}, []string{"name"}),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zosnet_gateway_connections",
			Help: "open client connections (UDP: sessions) per route name"}, []string{"name"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zosnet_gateway_refused_total",
			Help: "connections and requests refused, by reason"}, []string{"reason"}),
		applied:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "zosnet_gateway_routes", Help: "routes in the applied table"}),
		applyErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "zosnet_gateway_apply_errors_total", Help: "configs refused by Apply"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.bytes, m.up, m.latency, m.connect, m.conns, m.refused, m.applied, m.applyErrs)
	}
	return m
}

// forget drops a removed route's series.
func (m *metrics) forget(name string) {
	l := prometheus.Labels{"name": name}
	m.requests.DeletePartialMatch(l)
	m.bytes.DeletePartialMatch(l)
	m.up.DeletePartialMatch(l)
	m.latency.DeletePartialMatch(l)
	m.connect.DeletePartialMatch(l)
	m.conns.DeletePartialMatch(l)
}
