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

// Serve runs the daemon until ctx ends: it claims the API socket first (refusing to
// start, with localapi.ErrInUse, while another networkd answers there), then the
// first reconcile (which re-applies the persisted state, no registry needed), then
// serves the local API on the socket, /metrics on MetricsAddr when set, and the
// periodic resync. It closes the daemon on return.
func (d *Daemon) Serve(ctx context.Context) error {
	defer d.Close()
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
	start := time.Now()
	if err := d.Reconcile(ctx); err != nil && ctx.Err() == nil {
		d.log.Warn("initial reconcile had errors; retrying on resync", "err", err)
	}
	d.mu.Lock()
	n := len(d.state.NRs)
	d.mu.Unlock()
	d.log.Info("state re-applied", "nrs", n, "took", time.Since(start))
	return d.serve(ctx, l, ml)
}

func (d *Daemon) serve(ctx context.Context, l, ml net.Listener) error {
	ctx, stop := context.WithCancel(ctx) // a failed server stops the others
	defer stop()
	srv := &localapi.Server{B: d, Log: d.log, Metrics: d.MetricsHandler()}
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
	go func() { d.watchUnderlay(rctx); close(watched) }()
	defer func() { cancel(); <-done; <-watched }() // the resync and the watcher end before Close
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}
