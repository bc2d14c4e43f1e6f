package registry

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry, h *hub, sh *shedder, st Store) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zosnet_registry_requests_total", Help: "API requests by route and status code (499: the client went away before the answer).",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "zosnet_registry_request_seconds", Help: "API request latency by route (long-polls included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"route"}),
	}
	watchers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zosnet_registry_watchers", Help: "Nodes currently long-polling their desired state.",
	}, func() float64 { return float64(h.count()) })
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zosnet_registry_inflight", Help: "Requests working in the store now (bounded by --max-inflight; beyond it requests get 503 + Retry-After).",
	}, func() float64 { return float64(sh.inflight()) })
	reg.MustRegister(m.requests, m.latency, watchers, inflight)
	if hs, ok := st.(interface{ heartbeatFlushErrors() int64 }); ok {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "zosnet_registry_heartbeat_flush_errors_total",
			Help: "Writes of the heartbeats held in memory that failed (each loses up to one second of heartbeats; the error is logged).",
		}, func() float64 { return float64(hs.heartbeatFlushErrors()) }))
	}
	return m
}

func (m *metrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
