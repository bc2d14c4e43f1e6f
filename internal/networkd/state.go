package networkd

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/portalloc"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/workload"
)

const stateFile = "state.json"

// State is the desired state persisted in the state directory. NR specs are stored
// with their allocated listen port; private keys are separate 0600 files.
type State struct {
	Version   int                      `json:"version"`
	NRs       map[string]resource.Spec `json:"nrs"`
	Workloads map[string]workload.Info `json:"workloads"`
}

func (s *State) nrIDs() []string {
	ids := make([]string, 0, len(s.NRs))
	for id := range s.NRs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (s *State) workloadNames() []string {
	ns := make([]string, 0, len(s.Workloads))
	for n := range s.Workloads {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func (s *State) wantNRs() map[string]bool {
	m := make(map[string]bool, len(s.NRs))
	for id := range s.NRs {
		m[id] = true
	}
	return m
}

func keyName(id string) string { return "nr-" + id + ".key" }

// load reads the state file, re-validates every spec, restores the port assignments
// and loads the keys.
func (d *Daemon) load() error {
	d.state = State{Version: 1, NRs: map[string]resource.Spec{}, Workloads: map[string]workload.Info{}}
	if _, err := d.store.ReadJSON(stateFile, &d.state); err != nil {
		return err
	}
	if d.state.NRs == nil {
		d.state.NRs = map[string]resource.Spec{}
	}
	if d.state.Workloads == nil {
		d.state.Workloads = map[string]workload.Info{}
	}
	ports, err := portalloc.New(d.cfg.PortMin, d.cfg.PortMax, d.portFree)
	if err != nil {
		return err
	}
	assign := map[string]uint16{}
	for id, s := range d.state.NRs {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("state file %s: nr %s: %w", stateFile, id, err)
		}
		assign[id] = s.ListenPort
		if _, err := d.keyOf(id); err != nil {
			return err
		}
		d.status[id] = nrStatus{state: "pending"}
	}
	if err := ports.Restore(assign); err != nil {
		return fmt.Errorf("state file %s: %w", stateFile, err)
	}
	d.ports = ports
	return d.loadHints()
}

func (d *Daemon) persist() error { return d.store.WriteJSON(stateFile, &d.state) }

// keyOf returns NR id's private key, generating and persisting it (0600) first if it
// has none. The key never leaves the node.
func (d *Daemon) keyOf(id string) (wgtypes.Key, error) {
	if b, ok := d.keys[id]; ok {
		return wgtypes.NewKey(b)
	}
	b, err := d.store.ReadSecret(keyName(id))
	if err != nil {
		return wgtypes.Key{}, err
	}
	if b == nil {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			return wgtypes.Key{}, fmt.Errorf("generate key for nr %s: %w", id, err)
		}
		if err := d.store.WriteSecret(keyName(id), k[:]); err != nil {
			return wgtypes.Key{}, err
		}
		b = k[:]
	}
	k, err := wgtypes.NewKey(b)
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("key of nr %s: %w", id, err)
	}
	d.keys[id] = b
	return k, nil
}

func (d *Daemon) forgetKey(id string) error {
	delete(d.keys, id)
	return d.store.RemoveSecret(keyName(id))
}

// portFree probes whether a UDP port can be bound in the socket namespace (IPv4 and
// IPv6), for ports no NR holds.
func (d *Daemon) portFree(port uint16) bool {
	free := false
	d.cfg.SockNS.Do(func() error {
		c4, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
		if err != nil {
			return nil
		}
		defer c4.Close()
		c6, err := net.ListenUDP("udp6", &net.UDPAddr{Port: int(port)})
		if err == nil {
			c6.Close()
		}
		free = err == nil || strings.Contains(err.Error(), "address family not supported")
		return nil
	})
	return free
}

// gcWorkloads removes workload links (c-, t-) in the host namespace and wl-
// namespaces that no workload wants.
func (d *Daemon) gcWorkloads() error {
	wantIf, wantNS := map[string]bool{}, map[string]bool{}
	for _, w := range d.state.Workloads {
		wantIf[w.HostIf], wantNS[w.Netns] = true, true
	}
	h, err := netlink.NewHandleAt(vnetns.NsHandle(d.cfg.Host.Fd()))
	if err != nil {
		return fmt.Errorf("gc workloads: %w", err)
	}
	defer h.Close()
	links, _ := h.LinkList()
	for _, l := range links {
		n := l.Attrs().Name
		if (strings.HasPrefix(n, "c-") || strings.HasPrefix(n, "t-")) && len(n) == 12 && !wantIf[n] {
			d.log.Info("gc: removing workload link no one wants", "link", n)
			h.LinkDel(l)
		}
	}
	names, err := netns.List(d.cfg.NetnsDir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n, "wl-") && !wantNS[n] {
			d.log.Info("gc: removing workload namespace no one wants", "netns", n)
			if err := netns.Delete(d.cfg.NetnsDir, n); err != nil {
				return err
			}
		}
	}
	return nil
}
