package networkd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zosnet/zosnet/internal/localapi"
)

// MetricsHandler serves the daemon's Prometheus metrics.
func (d *Daemon) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(d.met.reg, promhttp.HandlerOpts{})
}

// Serve runs the daemon until ctx ends: the first reconcile (which re-applies the
// persisted state, no registry needed), then the local API on the socket, /metrics
// on MetricsAddr when set, and the periodic resync. It closes the daemon on return.
func (d *Daemon) Serve(ctx context.Context) error {
	defer d.Close()
	start := time.Now()
	if err := d.Reconcile(ctx); err != nil {
		d.log.Warn("initial reconcile had errors; retrying on resync", "err", err)
	}
	d.log.Info("state re-applied", "nrs", len(d.ListNRs()), "took", time.Since(start))
	sock := d.cfg.Socket
	if sock == "" {
		sock = localapi.DefaultSocket
	}
	l, err := localapi.Listen(sock)
	if err != nil {
		return err
	}
	srv := &localapi.Server{B: d, Log: d.log, Extra: map[string]http.Handler{"GET /metrics": d.MetricsHandler()}}
	d.addUplinkRoutes(srv)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ctx, l) }()
	if d.cfg.MetricsAddr != "" {
		ml, err := net.Listen("tcp", d.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listen on %s: %w", d.cfg.MetricsAddr, err)
		}
		ms := &http.Server{Handler: d.MetricsHandler()}
		go func() { <-ctx.Done(); ms.Close() }()
		go func() {
			if err := ms.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	d.log.Info("networkd serving", "socket", sock, "metrics", d.cfg.MetricsAddr)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }() // the resync must end before Close
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}
