// Package nodeagent is the node's side of the registry: who the node is (LoadNode: farm
// id and registry from the kernel command line, its ed25519 key made at first boot, its
// name), its registration, facts and heartbeats (Agent), and the long-poll of what it
// must run (Watcher). It reads the node (netlink facts) but never changes it; provisiond
// (package provision) runs an Agent and a Watcher and does the changing.
//
// Facts are NICs with MACs, addresses and routes, endpoint candidates, the hidden flag,
// WireGuard ports and the version, reported at start, on every link/address change and
// periodically. Where they come from is a FactsSource: NetlinkFacts on a node, a fake in
// tests; the registry is a Registry (*gridapi.Client). Both loops back off while the
// registry is unreachable: a registry outage only delays news.
package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Registry is the part of the registry's API the agent and the watcher use:
// *gridapi.Client, signing with the node's key; a fake in tests.
type Registry interface {
	Register(ctx context.Context, r gridapi.NodeRegister) (gridapi.Node, error)
	ReportFacts(ctx context.Context, node int64, f gridapi.NodeFacts) error
	Heartbeat(ctx context.Context, node int64) error
	Desired(ctx context.Context, node int64, rev int64, timeout time.Duration) (gridapi.Desired, error)
}

// Config configures an Agent. Zero durations mean the documented defaults.
type Config struct {
	Client     Registry // signs with the node's key
	FarmID     int64
	Name       string
	Version    string
	Facts      FactsSource
	Changes    <-chan struct{} // optional: the system changed; facts are re-read at once
	Heartbeat  time.Duration   // default 30 s
	Resync     time.Duration   // facts are re-sent at least this often; default 10 min
	Debounce   time.Duration   // changes within this window are coalesced; default 100 ms
	MinBackoff time.Duration   // default 250 ms
	MaxBackoff time.Duration   // default 2 s (jittered; a 503's Retry-After is honoured)
	Conn       *Conn           // optional: records the registry connection
	Log        *slog.Logger
}

// Agent registers a node and keeps its facts current in the registry. Run it once;
// the other methods are safe for concurrent use.
type Agent struct {
	cfg        Config
	registered chan struct{}
	kick       chan struct{}

	mu       sync.Mutex
	id       int64
	extra    []gridapi.Endpoint
	lastSent string
	lastAt   time.Time
}

// New returns an Agent for cfg.
func New(cfg Config) *Agent {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.Heartbeat, 30*time.Second)
	def(&cfg.Resync, 10*time.Minute)
	def(&cfg.Debounce, 100*time.Millisecond)
	def(&cfg.MinBackoff, 250*time.Millisecond)
	def(&cfg.MaxBackoff, 2*time.Second)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Agent{cfg: cfg, registered: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// NodeID is the registry's id for this node, 0 until registered.
func (a *Agent) NodeID() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// Registered is closed once the node is registered.
func (a *Agent) Registered() <-chan struct{} { return a.registered }

// SetPublicConfig makes the public config's addresses endpoint candidates (reason
// "public-config") and re-reports the facts.
func (a *Agent) SetPublicConfig(p *gridapi.PublicConfig) {
	a.mu.Lock()
	a.extra = publicConfigEndpoints(p)
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run registers the node (retrying with backoff) and then reports facts and
// heartbeats until ctx ends (then it returns nil). It returns an error only when the
// registry refuses the registration for good (e.g. the name belongs to another key).
func (a *Agent) Run(ctx context.Context) error {
	if err := a.register(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	bo := backoff{min: a.cfg.MinBackoff, max: a.cfg.MaxBackoff}
	for {
		wait := a.cfg.Heartbeat
		if err := a.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = bo.after(err)
			a.cfg.Log.Warn("nodeagent: registry update failed, retrying", "err", err, "in", wait.Round(time.Millisecond))
		} else {
			bo.reset()
		}
		if !a.wait(ctx, wait) {
			return nil
		}
	}
}

func (a *Agent) register(ctx context.Context) error {
	bo := backoff{min: a.cfg.MinBackoff, max: a.cfg.MaxBackoff}
	req := gridapi.NodeRegister{FarmID: a.cfg.FarmID, Name: a.cfg.Name, Version: a.cfg.Version}
	for {
		n, err := a.cfg.Client.Register(ctx, req)
		if err == nil {
			a.cfg.Conn.OK(time.Now())
			a.mu.Lock()
			a.id = n.ID
			a.mu.Unlock()
			close(a.registered)
			a.cfg.Log.Info("nodeagent: registered", "node", n.ID, "name", n.Name, "farm", n.FarmID)
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		a.cfg.Conn.Record(err, time.Now())
		if permanent(err) {
			return fmt.Errorf("register node %q in farm %d: %w", a.cfg.Name, a.cfg.FarmID, err)
		}
		d := bo.after(err)
		a.cfg.Log.Warn("nodeagent: registry unreachable, retrying registration", "err", err, "in", d.Round(time.Millisecond))
		if !sleep(ctx, d) {
			return nil
		}
	}
}

// mergeEndpoints puts extra first and then eps, without duplicates (by IP).
func mergeEndpoints(extra, eps []gridapi.Endpoint) []gridapi.Endpoint {
	out := []gridapi.Endpoint{}
	seen := map[string]bool{}
	for _, e := range append(append([]gridapi.Endpoint(nil), extra...), eps...) {
		if !seen[e.IP] {
			seen[e.IP] = true
			out = append(out, e)
		}
	}
	return out[:min(len(out), gridapi.MaxEndpoints)]
}

// permanent reports registration errors retrying cannot fix: the key or name belongs
// to another node (409) or the request is refused (403). Anything else (including an
// unknown farm: the farmer may create it later) is retried with backoff.
func permanent(err error) bool {
	var e *gridapi.APIError
	if !errors.As(err, &e) {
		return false
	}
	return e.Status == http.StatusForbidden || e.Status == http.StatusConflict
}

// wait sleeps d, returning early on a change or kick (after the debounce window);
// false when ctx ended.
func (a *Agent) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	case <-a.cfg.Changes:
	case <-a.kick:
	}
	if !sleep(ctx, a.cfg.Debounce) {
		return false
	}
	for { // drain what came in meanwhile
		select {
		case <-a.cfg.Changes:
		default:
			return true
		}
	}
}

// sync reports the facts when they changed (or Resync passed), else heartbeats.
func (a *Agent) sync(ctx context.Context) error {
	f, err := a.cfg.Facts.Facts(ctx)
	if err != nil {
		return fmt.Errorf("collect facts: %w", err)
	}
	a.mu.Lock()
	id, extra, last, lastAt := a.id, a.extra, a.lastSent, a.lastAt
	a.mu.Unlock()
	decided := f.Endpoints != nil
	f.Endpoints = mergeEndpoints(extra, f.Endpoints)
	if f.Version == "" {
		f.Version = a.cfg.Version
	}
	if decided {
		f.Hidden = f.Hidden && len(extra) == 0
	} else {
		classify(&f) // the source left endpoints to us: derive them from the NICs
	}
	b, _ := json.Marshal(f)
	if string(b) == last && time.Since(lastAt) < a.cfg.Resync {
		return a.answered(ctx, a.cfg.Client.Heartbeat(ctx, id))
	}
	if err := a.answered(ctx, a.cfg.Client.ReportFacts(ctx, id, f)); err != nil {
		return err
	}
	a.mu.Lock()
	a.lastSent, a.lastAt = string(b), time.Now()
	a.mu.Unlock()
	a.cfg.Log.Info("nodeagent: facts reported", "node", id, "nics", len(f.NICs), "endpoints", len(f.Endpoints), "hidden", f.Hidden)
	return nil
}

// answered records the registry's answer (err of a request to it) in the connection
// state and returns err.
func (a *Agent) answered(ctx context.Context, err error) error {
	switch {
	case err == nil:
		a.cfg.Conn.OK(time.Now())
	case ctx.Err() == nil:
		a.cfg.Conn.Record(err, time.Now())
	}
	return err
}
