package networkd

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/zosnet/zosnet/internal/dnsfwd"
	"github.com/zosnet/zosnet/internal/ndmz"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// DefaultResolvConf is where netinit writes the node's name servers:
// $ZOSNET_STATE_DIR/resolv.conf in a lab node, else /etc/resolv.conf.
func DefaultResolvConf() string {
	if d := os.Getenv("ZOSNET_STATE_DIR"); d != "" {
		return filepath.Join(d, "resolv.conf")
	}
	return "/etc/resolv.conf"
}

// resolver is the workloads' DNS forwarder running in ndmz (package dnsfwd).
type resolver struct {
	ndmz string // identity of the ndmz it listens in
	stop context.CancelFunc
	done chan struct{}
}

// ensureResolver runs the workloads' DNS forwarder in ndmz, (re)starting it when ndmz
// was made anew (its sockets died with the old one). Errors are logged, not
// returned: egress works without it, and the next pass retries.
func (r *reconciler) ensureResolver() {
	d := r.up.DMZ()
	id := d.Identity()
	if r.dns != nil && r.dns.ndmz == id && id != "" {
		return
	}
	r.stopResolver()
	pc, l, id, err := d.ListenResolver()
	if err != nil {
		r.log.Warn("workload resolver", "err", err)
		return
	}
	dmz, err := netns.OpenNamed(r.netnsDir, ndmz.NS)
	if err != nil {
		pc.Close()
		l.Close()
		r.log.Warn("workload resolver", "err", err)
		return
	}
	f := &dnsfwd.Forwarder{ResolvConf: r.resolvConf, Skip: []netip.Addr{nodeapi.WorkloadResolver4}, Do: dmz.Do, Log: r.log}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &resolver{ndmz: id, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(rs.done)
		defer dmz.Close()
		if err := f.Serve(ctx, pc, l); err != nil {
			r.log.Warn("workload resolver stopped", "err", err)
		}
	}()
	r.dns = rs
	r.log.Info("workload resolver listening in ndmz", "addr", nodeapi.WorkloadResolver4, "resolv_conf", r.resolvConf)
}

func (r *reconciler) stopResolver() {
	if r.dns == nil {
		return
	}
	r.dns.stop()
	<-r.dns.done
	r.dns = nil
}

// resolvers are the DNS servers workloads should use: the forwarder while it runs.
func (r *reconciler) resolvers() []string {
	if r.dns == nil {
		return []string{}
	}
	return []string{nodeapi.WorkloadResolver4.String()}
}
