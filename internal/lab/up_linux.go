package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
)

// Options says how to bring a lab up.
type Options struct {
	// Name prefixes everything the lab makes (default "lab"); letters and digits only.
	Name string
	// BinDir holds the node service binaries (default: the running binary's directory).
	BinDir string
	// Boot starts the node services of each node's boot list that exist in BinDir.
	Boot bool
	// BootTimeout bounds how long netinit may take on a node (default 2 minutes).
	BootTimeout time.Duration
	// PublicConfigs has the lab's farmer give farm1 and farm2 public configs once they
	// booted, and waits until they applied them (mesh_linux.go). `zoslab up` sets it.
	PublicConfigs bool
	// ImageDir holds the node image vm nodes boot: vmlinuz, initrd.img, bootx64.efi
	// (default: BinDir/image, where `make image` puts it).
	ImageDir string
	// Log gets progress lines (default: discarded).
	Log *slog.Logger
}

// Up builds the lab s (nil means DefaultSpec) and returns it running. Nodes come up with
// bare NICs (no addresses); DHCP and RA servers run as the spec says. On any failure Up
// removes everything it made (Down) and returns the error. A lab of the same name must
// not exist yet.
func Up(ctx context.Context, s *Spec, o Options) (l *Lab, err error) {
	if s == nil {
		s = DefaultSpec()
	}
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("lab %s: spec: %w", o.Name, err)
	}
	start := time.Now()
	l, err = create(o.Name, s, o.Log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if derr := Down(context.Background(), o.Name); derr != nil {
				err = errors.Join(err, fmt.Errorf("clean up half-made lab: %w", derr))
			}
			l = nil
		}
	}()
	l.st.ImageDir, l.st.BinDir = o.ImageDir, o.BinDir
	if err := l.checkImage(); err != nil { // vm_linux.go
		return nil, err
	}
	b := &builder{l: l, nss: map[string]*nsh{}}
	defer b.close()
	if err := b.build(ctx); err != nil {
		return nil, err
	}
	o.Log.Info("lab up", "lab", o.Name, "nodes", len(s.Nodes), "took", time.Since(start).Round(time.Millisecond))
	if o.Boot {
		if err := l.boot(ctx, o); err != nil {
			return nil, err
		}
	} else if err := l.startVMs(o); err != nil { // vm_linux.go
		return nil, err
	}
	return l, nil
}

func (o *Options) defaults() error {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if err := CheckName(o.Name); err != nil {
		return err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = 2 * time.Minute
	}
	if o.BinDir == "" {
		exe, err := selfExe()
		if err != nil {
			return err
		}
		o.BinDir = filepath.Dir(exe)
	}
	if o.ImageDir == "" {
		o.ImageDir = filepath.Join(o.BinDir, "image")
	}
	return nil
}

// create claims the lab's directory, installs the host routes and writes the first state.
func create(name string, s *Spec, log *slog.Logger) (*Lab, error) {
	unlock, err := lockRoot()
	if err != nil {
		return nil, err
	}
	defer unlock()
	dir := labDir(name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lab %s is already up (or half-up): run `zoslab down --name %s` first", name, name)
		}
		return nil, fmt.Errorf("lab %s: %w", name, err)
	}
	if err := checkStale(name); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	l := &Lab{name: name, dir: dir, log: log, st: &state{
		Name: name, Spec: s, Holders: map[string]int{}, Servers: map[string]int{},
		DHCPOn: map[string]bool{}, DHCPRange: map[string]string{}, Carrier: map[string]bool{},
		VMs: map[string]int{},
	}}
	for _, d := range []string{"servers", "nodes"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("lab %s: %w", name, err)
		}
	}
	if err := l.save(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := addHostRoutes(s); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return l, nil
}

// testHookStep, when set (by tests), is called after each build step.
var testHookStep func(step string)

// checkStale refuses a lab name whose namespaces are left from an earlier lab.
func checkStale(name string) error {
	all, err := netns.List("")
	if err != nil {
		return err
	}
	for _, n := range all {
		if strings.HasPrefix(n, name+"-") {
			return fmt.Errorf("lab %s: namespace %s of an earlier lab of that name is left: run `zoslab down --name %s` first", name, n, name)
		}
	}
	return nil
}

// builder holds the namespaces of a lab while Up builds it.
type builder struct {
	l    *Lab
	host *netlink.Handle
	nss  map[string]*nsh // switches by "s-<seg>", routers, hosts and nodes by name
}

func (b *builder) close() {
	for _, n := range b.nss {
		n.close()
	}
	if b.host != nil {
		b.host.Close()
	}
}

func (b *builder) build(ctx context.Context) error {
	var err error
	if b.host, err = hostHandle(); err != nil {
		return err
	}
	steps := []struct {
		what string
		fn   func() error
	}{
		{"namespaces", b.namespaces},
		{"nodes", b.nodes},
		{"segments", b.segments},
		{"routers", b.routers},
		{"node NICs", b.nics},
		{"servers", b.servers},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lab %s: %w", b.l.name, err)
		}
		t := time.Now()
		if err := s.fn(); err != nil {
			return fmt.Errorf("lab %s: %s: %w", b.l.name, s.what, err)
		}
		if testHookStep != nil {
			testHookStep(s.what)
		}
		b.l.log.Info("lab: "+s.what+" ready", "lab", b.l.name, "took", time.Since(t).Round(time.Microsecond))
	}
	return b.l.save()
}

// namespaces creates the switches', routers' and hosts' named namespaces.
func (b *builder) namespaces() error {
	s := b.l.st.Spec
	for _, g := range s.Segments {
		if err := b.named("s-"+g.Name, switchNS(b.l.name, g.Name), switchSysctls()); err != nil {
			return err
		}
	}
	for _, r := range append(append([]Router{}, s.Routers...), s.Hosts...) {
		if err := b.named(r.Name, nsName(b.l.name, r.Name), routerSysctls(*r.Forwarding)); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) named(key, name string, sysctls link.Sysctls) error {
	ns, err := netns.Create("", name)
	if err != nil {
		return err
	}
	ns.Close()
	n, err := openNSH(name, filepath.Join(netns.DefaultDir, name))
	if err != nil {
		return err
	}
	b.nss[key] = n
	if err := n.sysctls(sysctls); err != nil {
		return err
	}
	lo, err := n.h.LinkByName("lo")
	if err == nil {
		err = n.h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("%s: lo up: %w", name, err)
	}
	return nil
}

// nodes starts every node's holder, in parallel, and opens its namespace.
func (b *builder) nodes() error {
	s := b.l.st.Spec
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(s.Nodes))
	for i := range s.Nodes {
		n := &s.Nodes[i]
		dir := b.l.NodeDir(n.Name)
		if err := os.MkdirAll(filepath.Join(dir, "state", "log"), 0o755); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cmdline"), []byte(n.Cmdline+"\n"), 0o644); err != nil {
			return fmt.Errorf("node %s: cmdline: %w", n.Name, err)
		}
		if n.IsVM() {
			continue // powered on once the servers run (vm_linux.go)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pid, err := startHolder(b.l.name, n.Name, dir)
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			b.l.st.Holders[n.Name] = pid
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, n := range s.Nodes {
		if n.IsVM() {
			continue
		}
		h, err := openNSH(n.Name, b.l.NSPath(n.Name))
		if err != nil {
			return err
		}
		b.nss[n.Name] = h
		if err := h.sysctls(nodeSysctls()); err != nil {
			return err
		}
	}
	return nil
}

// segments makes each switch's bridge.
func (b *builder) segments() error {
	for _, g := range b.l.st.Spec.Segments {
		if err := makeBridge(b.nss["s-"+g.Name], g.MTU); err != nil {
			return err
		}
	}
	return nil
}

// routers wires routers and hosts to their segments, addresses them, adds their routes
// and firewall.
func (b *builder) routers() error {
	s := b.l.st.Spec
	for _, r := range append(append([]Router{}, s.Routers...), s.Hosts...) {
		rn := b.nss[r.Name]
		for _, it := range r.Interfaces {
			g := s.segment(it.Segment)
			if err := veth(b.host, rn, it.Segment, "", b.nss["s-"+g.Name], routerPort(r.Name), g.MTU, true); err != nil {
				return err
			}
			if err := setupIface(rn, it); err != nil {
				return err
			}
		}
		if err := addRoutes(rn, r.Routes); err != nil {
			return err
		}
		if err := applyNFT(rn, s, &r); err != nil {
			return err
		}
	}
	return nil
}

// nics plugs each node NIC into its segment; the node side stays down, as on a machine
// that just powered on.
func (b *builder) nics() error {
	s := b.l.st.Spec
	for _, n := range s.Nodes {
		if n.IsVM() {
			continue // taps, made when the VM powers on
		}
		for i, c := range n.NICs {
			g := s.segment(c.Segment)
			if err := veth(b.host, b.nss[n.Name], c.Name, c.MAC, b.nss["s-"+g.Name], nodePort(n.Name, i), g.MTU, *c.Carrier); err != nil {
				return err
			}
			b.l.st.Carrier[n.Name+"/"+c.Name] = *c.Carrier
		}
	}
	return nil
}

// servers starts dnsmasq and radvd where the spec enables them and waits until those
// without a delay run.
func (b *builder) servers() error {
	var started []string
	for i := range b.l.st.Spec.Segments {
		g := &b.l.st.Spec.Segments[i]
		if g.DHCP.Enabled {
			b.l.st.DHCPOn[g.Name] = true
			if err := b.l.startDHCP(g, g.DHCP.Delay); err != nil {
				return err
			}
			if g.DHCP.Delay == 0 {
				started = append(started, "dnsmasq-"+g.Name)
			}
		}
		if g.RA.Enabled {
			if err := b.l.startRA(g); err != nil {
				return err
			}
			started = append(started, "radvd-"+g.Name)
		}
	}
	for _, r := range append(append([]Router(nil), b.l.st.Spec.Routers...), b.l.st.Spec.Hosts...) {
		if r.DNS != nil {
			if err := b.l.startDNS(&r); err != nil {
				return err
			}
			started = append(started, "dns-"+r.Name)
		}
	}
	for _, key := range started {
		if err := b.l.waitServer(key); err != nil {
			return err
		}
	}
	return nil
}

func nsHandle(ns *netns.NS) vnetns.NsHandle { return vnetns.NsHandle(ns.Fd()) }
