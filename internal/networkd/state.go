package networkd

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sort"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/portalloc"
)

const (
	stateFile        = "state.json"
	publicConfigFile = "public-config.json"
	egressAllowFile  = "egress-allow.json"
)

// State is the desired state persisted in the state directory. NR specs are stored
// with their allocated listen port; private keys are separate 0600 files; the public
// config has a file of its own (publicConfigFile).
type State struct {
	Version   int                         `json:"version"`
	NRs       map[string]nodeapi.NRSpec   `json:"nrs"`
	Workloads map[string]nodeapi.Workload `json:"workloads"`
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

// workloadList returns the workloads sorted by name.
func (s *State) workloadList() []nodeapi.Workload {
	out := make([]nodeapi.Workload, 0, len(s.Workloads))
	for _, n := range s.workloadNames() {
		out = append(out, s.Workloads[n])
	}
	return out
}

// listenPorts returns every NR's listen port, sorted.
func (s *State) listenPorts() []uint16 {
	ports := make([]uint16, 0, len(s.NRs))
	for _, nr := range s.NRs {
		ports = append(ports, nr.ListenPort)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	return ports
}

// publicConfigState is the content of publicConfigFile.
type publicConfigState struct {
	Config *nodeapi.PublicConfig `json:"config"`
}

func keyName(id string) string { return "nr-" + id + ".key" }

// load reads the state files, re-validates everything in them (they are outside
// input too), restores the port assignments, loads the keys and the learned
// endpoints.
func (d *Daemon) load() error {
	d.state = State{Version: 1, NRs: map[string]nodeapi.NRSpec{}, Workloads: map[string]nodeapi.Workload{}}
	if _, err := d.store.ReadJSON(stateFile, &d.state); err != nil {
		return err
	}
	if d.state.NRs == nil {
		d.state.NRs = map[string]nodeapi.NRSpec{}
	}
	if d.state.Workloads == nil {
		d.state.Workloads = map[string]nodeapi.Workload{}
	}
	if err := d.validateState(); err != nil {
		return fmt.Errorf("state file %s: %w", stateFile, err)
	}
	ports, err := portalloc.New(d.cfg.PortMin, d.cfg.PortMax, d.rec.portFree)
	if err != nil {
		return err
	}
	// new NRs' ports start at a random point of the range: nodes behind one NAT
	// then rarely share a port, so the NAT keeps each port (issue 14's punching);
	// an NR keeps its port (restored below).
	ports.Spread(rand.Uint64())
	assign := map[string]uint16{}
	for id, s := range d.state.NRs {
		assign[id] = s.ListenPort
		if _, err := d.keyOf(id); err != nil {
			return err
		}
		d.status[id] = nrStatus{state: nodeapi.StatePending}
	}
	if err := ports.Restore(assign); err != nil {
		return fmt.Errorf("state file %s: %w", stateFile, err)
	}
	d.ports = ports
	if err := d.loadPublicConfig(); err != nil {
		return err
	}
	if err := d.loadGatewayFirewall(); err != nil {
		return err
	}
	return d.loadHints()
}

// validateState checks every persisted NR and workload: each must validate, sit
// under its own key, and a workload must belong to an NR and carry a usable MAC.
func (d *Daemon) validateState() error {
	for id, s := range d.state.NRs {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("nr %s: %w", id, err)
		}
		if s.NetworkID != id {
			return fmt.Errorf("nr %s: network_id %q differs from its key", id, s.NetworkID)
		}
	}
	for name, w := range d.state.Workloads {
		if err := w.WorkloadSpec.Validate(); err != nil {
			return fmt.Errorf("workload %s: %w", name, err)
		}
		if w.Name != name {
			return fmt.Errorf("workload %s: name %q differs from its key", name, w.Name)
		}
		if _, ok := d.state.NRs[w.NetworkID]; !ok {
			return fmt.Errorf("workload %s: network resource %q is not in the state", name, w.NetworkID)
		}
		if _, err := net.ParseMAC(w.MAC); err != nil {
			return fmt.Errorf("workload %s: mac %q: %w", name, w.MAC, err)
		}
		if !w.IPv4.IsValid() || !w.IPv6.IsValid() || w.HostIf == "" {
			return fmt.Errorf("workload %s: addresses or host link missing", name)
		}
	}
	return nil
}

func (d *Daemon) loadPublicConfig() error {
	var st publicConfigState
	if _, err := d.store.ReadJSON(publicConfigFile, &st); err != nil {
		return err
	}
	if st.Config != nil {
		if err := st.Config.Validate(); err != nil {
			return fmt.Errorf("state file %s: %w", publicConfigFile, err)
		}
	}
	d.pubCfg = st.Config
	return d.loadEgressAllow()
}

// loadEgressAllow reads and re-validates egressAllowFile.
func (d *Daemon) loadEgressAllow() error {
	var body nodeapi.EgressAllowList
	if _, err := d.store.ReadJSON(egressAllowFile, &body); err != nil {
		return err
	}
	if err := nodeapi.ValidateEgressAllow(body.Allow); err != nil {
		return fmt.Errorf("state file %s: %w", egressAllowFile, err)
	}
	d.allow = body.Allow
	return nil
}

func (d *Daemon) persist() error { return d.store.WriteJSON(stateFile, &d.state) }

func (d *Daemon) persistPublicConfig(cfg *nodeapi.PublicConfig) error {
	return d.store.WriteJSON(publicConfigFile, publicConfigState{Config: cfg})
}

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
