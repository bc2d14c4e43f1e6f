package networkd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zosnet/zosnet/internal/localapi"
)

// MetricsHandler serves the daemon's Prometheus metrics.
func (d *Daemon) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(d.met.reg, promhttp.HandlerOpts{})
}

// Serve runs the daemon until ctx ends: it claims the API socket first (refusing to
// start, with localapi.ErrInUse, while another networkd answers there), then the
// first reconcile (which re-applies the persisted state, no registry needed), then
// serves the local API on the socket, /metrics on MetricsAddr when set, and the
// periodic resync. It closes the daemon on return.
func (d *Daemon) Serve(ctx context.Context) error {
	defer d.Close()
	switch {
	case d.cfg.GCPercent == 0:
		debug.SetGCPercent(DefaultGCPercent)
	case d.cfg.GCPercent > 0:
		debug.SetGCPercent(d.cfg.GCPercent)
	}
	sock := d.cfg.Socket
	if sock == "" {
		sock = localapi.DefaultSocket
	}
	claimed := time.Now()
	l, err := localapi.Listen(sock)
	if err != nil {
		return err
	}
	defer l.Close()
	if waited := time.Since(claimed); waited > time.Second {
		d.log.Info("api socket claimed after waiting for the previous networkd to exit", "socket", sock, "waited", waited.Round(time.Millisecond))
	}
	var ml net.Listener
	if d.cfg.MetricsAddr != "" {
		if ml, err = net.Listen("tcp", d.cfg.MetricsAddr); err != nil {
			return fmt.Errorf("metrics listen on %s: %w", d.cfg.MetricsAddr, err)
		}
	}
	start, learned := time.Now(), d.learnedCount()
	if err := d.Reconcile(ctx); err != nil && ctx.Err() == nil {
		d.log.Warn("initial reconcile had errors; retrying on resync", "err", err)
	}
	r := d.recordRestored(time.Since(start), learned)
	d.log.Info("state restored from disk", "nrs", len(r.NRs), "failed", len(r.Failed), "workloads", r.Workloads,
		"public_config", r.PublicConfig, "learned_endpoints", r.LearnedEndpoints, "took", r.Took)
	return d.serve(ctx, l, ml)
}

func (d *Daemon) serve(ctx context.Context, l, ml net.Listener) error {
	ctx, stop := context.WithCancel(ctx) // a failed server stops the others
	defer stop()
	srv := &localapi.Server{B: d, Log: d.log, Metrics: d.MetricsHandler(), Profiles: profiles()}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ctx, l) }()
	if ml != nil {
		ms := &http.Server{Handler: d.MetricsHandler()}
		go func() { <-ctx.Done(); ms.Close() }()
		go func() {
			if err := ms.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics: %w", err)
			}
		}()
	}
	d.log.Info("networkd serving", "socket", l.Addr().String(), "metrics", d.cfg.MetricsAddr)
	rctx, cancel := context.WithCancel(ctx)
	done, watched := make(chan struct{}), make(chan struct{})
	go func() { d.Run(rctx); close(done) }()
	epDone := make(chan struct{})
	go func() { d.watchEndpoints(rctx, d.cfg.EndpointPoll); close(epDone) }()
	go func() { d.watchUnderlay(rctx); close(watched) }()
	defer func() { cancel(); <-done; <-watched; <-epDone }() // the resync and the watchers end before Close
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// profiles serves net/http/pprof's index and profiles (heap, goroutine, allocs, CPU
// profile, trace) under /debug/pprof/; the local API serves it to root only.
func profiles() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}
