// Package dnsfwd is the workloads' DNS forwarder: a small recursive-query relay that
// networkd runs inside ndmz, at nodeapi.WorkloadResolver4, so that workloads resolve
// names although the egress rule refuses them the node's LAN (where a farm's or a
// home's resolver usually is). It forwards every query, unchanged, to the node's own
// name servers (the resolv.conf netinit writes from its DHCP lease), first to last,
// over the query's own transport (UDP or TCP), and answers SERVFAIL when none answers.
// ndmz's own traffic is not subject to the egress rule, so the LAN resolver is
// reachable from there. It caches nothing and keeps no state but the parsed
// resolv.conf (re-read when the file changes).
//
// Why a forwarder and not public resolvers handed out: a farm may block outbound DNS
// to the Internet, or offer a local resolver on purpose; the node's own resolvers are
// the ones known to work where it stands. Why miekg/dns: a maintained, complete DNS
// library (message parsing, UDP/TCP servers and clients), not hand-written parsing.
//
// A Forwarder is safe for concurrent use.
package dnsfwd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Forwarder relays queries to the name servers of a resolv.conf.
type Forwarder struct {
	// ResolvConf is the file naming the upstream servers (nameserver lines).
	ResolvConf string
	// Skip are addresses never used as upstreams (the forwarder's own).
	Skip []netip.Addr
	// Timeout bounds one exchange with one upstream (0 = 2 s).
	Timeout time.Duration
	// Do runs fn where upstream queries must come from (networkd: inside ndmz, since the
	// serving goroutines' threads are in whatever namespace the process is); nil runs
	// fn directly.
	Do func(fn func() error) error
	// Log receives one line per query no upstream answered; nil discards.
	Log *slog.Logger

	mu    sync.Mutex
	mtime time.Time
	ups   []string
}

// Upstreams returns the upstream servers (host:53), read from ResolvConf when it
// changed: loopback addresses (a local stub resolver is not reachable from ndmz),
// unspecified ones and Skip are left out.
func (f *Forwarder) Upstreams() ([]string, error) {
	st, err := os.Stat(f.ResolvConf)
	if err != nil {
		return nil, fmt.Errorf("resolvers: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if st.ModTime().Equal(f.mtime) && f.ups != nil {
		return f.ups, nil
	}
	cfg, err := dns.ClientConfigFromFile(f.ResolvConf)
	if err != nil {
		return nil, fmt.Errorf("resolvers: %s: %w", f.ResolvConf, err)
	}
	ups := []string{}
	for _, s := range cfg.Servers {
		a, err := netip.ParseAddr(s)
		if err != nil || a.IsLoopback() || a.IsUnspecified() || f.skipped(a) {
			continue
		}
		ups = append(ups, net.JoinHostPort(a.String(), "53"))
	}
	f.ups, f.mtime = ups, st.ModTime()
	return ups, nil
}

func (f *Forwarder) skipped(a netip.Addr) bool {
	for _, s := range f.Skip {
		if s == a.Unmap() {
			return true
		}
	}
	return false
}

// ServeDNS forwards r to the upstreams in order and writes the first answer; SERVFAIL
// when none answers (or there is none).
func (f *Forwarder) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	ans, err := f.exchange(r, w.LocalAddr().Network())
	if err != nil {
		if f.Log != nil {
			f.Log.Debug("dns forward failed", "query", question(r), "err", err)
		}
		ans = new(dns.Msg)
		ans.SetRcode(r, dns.RcodeServerFailure)
	}
	w.WriteMsg(ans)
}

func (f *Forwarder) exchange(r *dns.Msg, network string) (*dns.Msg, error) {
	if len(r.Question) != 1 {
		return nil, errors.New("want exactly one question")
	}
	ups, err := f.Upstreams()
	if err != nil {
		return nil, err
	}
	if len(ups) == 0 {
		return nil, fmt.Errorf("no usable name server in %s", f.ResolvConf)
	}
	timeout := f.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	c := &dns.Client{Net: network, Timeout: timeout}
	var errs []error
	for _, up := range ups {
		var ans *dns.Msg
		err := f.do(func() error {
			var err error
			ans, _, err = c.Exchange(r, up)
			return err
		})
		if err == nil {
			return ans, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", up, err))
	}
	return nil, errors.Join(errs...)
}

func (f *Forwarder) do(fn func() error) error {
	if f.Do == nil {
		return fn()
	}
	return f.Do(fn)
}

func question(r *dns.Msg) string {
	if len(r.Question) == 0 {
		return ""
	}
	return r.Question[0].String()
}

// Serve answers on pc (UDP) and l (TCP) until ctx ends; it closes both. Either may be
// nil.
func (f *Forwarder) Serve(ctx context.Context, pc net.PacketConn, l net.Listener) error {
	var srvs []*dns.Server
	if pc != nil {
		srvs = append(srvs, &dns.Server{PacketConn: pc, Handler: f})
	}
	if l != nil {
		srvs = append(srvs, &dns.Server{Listener: l, Handler: f})
	}
	errc := make(chan error, len(srvs))
	for _, s := range srvs {
		go func() { errc <- s.ActivateAndServe() }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, s := range srvs {
		s.Shutdown()
	}
	return err
}
