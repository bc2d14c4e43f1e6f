package networkd

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

// metrics are networkd's Prometheus metrics, on a registry of its own.
type metrics struct {
	reg        *prometheus.Registry
	applyDur   prometheus.Histogram
	applyErrs  prometheus.Counter
	reconciles *prometheus.CounterVec
	reconDur   prometheus.Gauge
	// endpointsSaved counts writes of endpoints.json (a learned endpoint changed)
	endpointsSaved prometheus.Counter
	// memReleases times the forced releases of freed memory after NR removals
	memReleases prometheus.Histogram
	// egressUpdates counts changes of the egress deny sets learned from the kernel.
	egressUpdates prometheus.Counter
}

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		applyDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "zosnet_nr_apply_seconds",
			Help: "Time to apply one network resource.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		applyErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "zosnet_nr_apply_errors_total",
			Help: "Failed network resource applies."}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zosnet_reconcile_total",
			Help: "Reconcile passes by result."}, []string{"result"}),
		reconDur: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zosnet_reconcile_last_seconds",
			Help: "Duration of the last reconcile pass."}),
		endpointsSaved: prometheus.NewCounter(prometheus.CounterOpts{Name: "zosnet_learned_endpoints_saved_total",
			Help: "Writes of endpoints.json: a hidden peer's learned endpoint changed and was persisted."}),
		memReleases: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "zosnet_memory_release_seconds",
			Help: "Forced returns of freed memory to the OS after network resources changed or were removed.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 12)}),

		egressUpdates: prometheus.NewCounter(prometheus.CounterOpts{Name: "zosnet_egress_updates_total",
			Help: "Changes of the egress rule's refused destinations learned from the kernel (lease, RA, public config)."}),
	}
	m.reg.MustRegister(m.applyDur, m.applyErrs, m.reconciles, m.reconDur, m.egressUpdates, m.endpointsSaved, m.memReleases, &nrCollector{d: d},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) applied(dur time.Duration, err error) {
	m.applyDur.Observe(dur.Seconds())
	if err != nil {
		m.applyErrs.Inc()
	}
}

func (m *metrics) reconciled(dur time.Duration, err error) {
	m.reconDur.Set(dur.Seconds())
	res := "ok"
	if err != nil {
		res = "error"
	}
	m.reconciles.WithLabelValues(res).Inc()
}

// nrCollector reads NR states and WireGuard peer counters at scrape time.
type nrCollector struct{ d *Daemon }

var (
	descNR = prometheus.NewDesc("zosnet_nr_up", "1 if the network resource is applied as specified.",
		[]string{"nr"}, nil)
	descWL = prometheus.NewDesc("zosnet_workloads", "Attached workloads.", nil, nil)
	descRx = prometheus.NewDesc("zosnet_wg_peer_receive_bytes_total", "Bytes received from a WireGuard peer.",
		[]string{"nr", "peer"}, nil)
	descTx = prometheus.NewDesc("zosnet_wg_peer_transmit_bytes_total", "Bytes sent to a WireGuard peer.",
		[]string{"nr", "peer"}, nil)
	descRefused = prometheus.NewDesc("zosnet_egress_refused_packets_total",
		"Packets from a network resource's workloads refused by the egress rule (towards the node's LAN, its own or its gateways' addresses, special-purpose ranges).",
		[]string{"nr"}, nil)
	descHS = prometheus.NewDesc("zosnet_wg_peer_last_handshake_seconds", "Unix time of the peer's latest handshake (0 = never).",
		[]string{"nr", "peer"}, nil)
)

// Describe sends the descriptors.
func (c *nrCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNR, descWL, descRx, descTx, descHS, descRefused} {
		ch <- d
	}
}

// Collect reads every NR. A read that fails yields an invalid metric, so the scrape
// reports the error instead of silently missing series.
func (c *nrCollector) Collect(ch chan<- prometheus.Metric) {
	ctx := context.Background()
	ws, err := c.d.ListWorkloads(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descWL, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(descWL, prometheus.GaugeValue, float64(len(ws)))
	nrs, err := c.d.ListNRs(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descNR, err)
		return
	}
	refused, err := c.d.Refused()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descRefused, err)
	}
	for _, nr := range nrs {
		id := nr.Spec.NetworkID
		if n, ok := refused[id]; ok {
			ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(n), id)
		}
		up := 0.0
		if nr.Status.State == nodeapi.StateOK {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descNR, prometheus.GaugeValue, up, id)
		for _, p := range nr.Status.Peers {
			ch <- prometheus.MustNewConstMetric(descRx, prometheus.CounterValue, float64(p.RxBytes), id, p.PublicKey)
			ch <- prometheus.MustNewConstMetric(descTx, prometheus.CounterValue, float64(p.TxBytes), id, p.PublicKey)
			hs := 0.0
			if p.LatestHandshake != nil {
				hs = float64(p.LatestHandshake.Unix())
			}
			ch <- prometheus.MustNewConstMetric(descHS, prometheus.GaugeValue, hs, id, p.PublicKey)
		}
	}
}
