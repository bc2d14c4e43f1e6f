package gateway

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// Route is one exposure as the gateway serves it.
type Route struct {
	ID      string `json:"id"`      // the registry's exposure id
	Network string `json:"network"` // network id: backends are dialled in its namespace
	Kind    string `json:"kind"`    // http, tcp or udp
	FQDN    string `json:"fqdn,omitempty"`
	TLS     string `json:"tls,omitempty"` // http: terminate or passthrough
	Port    int    `json:"port,omitempty"`
	// Backends are ip:port on the network.
	Backends      []netip.AddrPort `json:"backends"`
	ProxyProtocol bool             `json:"proxy_protocol,omitempty"`
}

// Name is the route's metric and log name: its FQDN, or "tcp:PORT" / "udp:PORT".
func (r *Route) Name() string {
	if r.Kind == gridapi.ExposeHTTP {
		return r.FQDN
	}
	return r.Kind + ":" + strconv.Itoa(r.Port)
}

// Limits are per-route limits; zero values mean the defaults.
type Limits struct {
	Rate     float64 `json:"rate,omitempty"`      // HTTP requests (raw: connections) per second; default 5000
	Burst    int     `json:"burst,omitempty"`     // default 10000
	MaxConns int     `json:"max_conns,omitempty"` // open connections (UDP: sessions); default 1024
}

func (l Limits) withDefaults() Limits {
	if l.Rate == 0 {
		l.Rate = 5000
	}
	if l.Burst == 0 {
		l.Burst = 10000
	}
	if l.MaxConns == 0 {
		l.MaxConns = 1024
	}
	return l
}

// Health configures the active health checks; zero values mean the defaults.
type Health struct {
	Interval time.Duration `json:"interval,omitempty"` // default 1 s
	Timeout  time.Duration `json:"timeout,omitempty"`  // per check; default 1 s
	Fall     int           `json:"fall,omitempty"`     // failures before down; default 2
	Rise     int           `json:"rise,omitempty"`     // successes before up again; default 2
}

func (h Health) withDefaults() Health {
	if h.Interval == 0 {
		h.Interval = time.Second
	}
	if h.Timeout == 0 {
		h.Timeout = time.Second
	}
	if h.Fall == 0 {
		h.Fall = 2
	}
	if h.Rise == 0 {
		h.Rise = 2
	}
	return h
}

// Config is everything the gateway serves; it is what the node persists.
type Config struct {
	Domain string  `json:"domain"` // the node's gateway domain; names are labels under it
	Routes []Route `json:"routes"`
	Limits Limits  `json:"limits,omitzero"`
	Health Health  `json:"health,omitzero"`
}

// FromExposures builds a Config from the registry's exposures for this node.
func FromExposures(domain string, es []gridapi.Exposure) (Config, error) {
	c := Config{Domain: domain, Routes: make([]Route, 0, len(es))}
	for _, e := range es {
		r := Route{ID: e.ID, Network: e.Network, Kind: e.Kind, FQDN: e.FQDN, TLS: e.TLS, Port: e.Port, ProxyProtocol: e.ProxyProtocol}
		for i, b := range e.Resolved {
			ap, err := netip.ParseAddrPort(b)
			if err != nil {
				return c, fmt.Errorf("exposure %s: resolved[%d]: %q is not ip:port", e.ID, i, b)
			}
			r.Backends = append(r.Backends, ap)
		}
		c.Routes = append(c.Routes, r)
	}
	return c, nil
}

// Table is a Config checked and indexed: the routes by name and by port. Immutable.
type Table struct {
	cfg    Config
	byName map[string]*Route // http routes by FQDN
	tcp    map[int]*Route
	udp    map[int]*Route
}

// Build checks cfg whole and indexes it; nothing is half-built: an error names the
// route and the field.
func Build(cfg Config) (*Table, error) {
	t := &Table{cfg: cfg, byName: map[string]*Route{}, tcp: map[int]*Route{}, udp: map[int]*Route{}}
	ids := map[string]bool{}
	for i := range cfg.Routes {
		r := &t.cfg.Routes[i]
		if err := t.add(r, cfg.Domain, ids); err != nil {
			return nil, fmt.Errorf("route %d (%s): %w", i, r.ID, err)
		}
	}
	return t, nil
}

func (t *Table) add(r *Route, domain string, ids map[string]bool) error {
	if r.ID == "" || ids[r.ID] {
		return fmt.Errorf("id: empty or listed twice")
	}
	ids[r.ID] = true
	if err := nodeapi.ValidID(r.Network); err != nil {
		return err
	}
	if len(r.Backends) == 0 || len(r.Backends) > gridapi.MaxBackends {
		return fmt.Errorf("backends: %d, want 1 to %d", len(r.Backends), gridapi.MaxBackends)
	}
	for _, b := range r.Backends {
		if !b.Addr().Is4() || b.Port() == 0 {
			return fmt.Errorf("backends: %s is not an IPv4 address and port", b)
		}
	}
	switch r.Kind {
	case gridapi.ExposeHTTP:
		return t.addHTTP(r, domain)
	case gridapi.ExposeTCP:
		return addPort(t.tcp, r)
	case gridapi.ExposeUDP:
		return addPort(t.udp, r)
	}
	return fmt.Errorf("kind: %q is not one of http, tcp, udp", r.Kind)
}

func (t *Table) addHTTP(r *Route, domain string) error {
	label, ok := strings.CutSuffix(r.FQDN, "."+domain)
	if domain == "" || !ok {
		return fmt.Errorf("fqdn: %q is not a name under the gateway domain %q", r.FQDN, domain)
	}
	if err := gridapi.ValidLabel("fqdn", label); err != nil {
		return err
	}
	if r.TLS != gridapi.TLSTerminate && r.TLS != gridapi.TLSPassthrough {
		return fmt.Errorf("tls: %q is not one of terminate, passthrough", r.TLS)
	}
	if t.byName[r.FQDN] != nil {
		return fmt.Errorf("fqdn: %s is routed twice", r.FQDN)
	}
	t.byName[r.FQDN] = r
	return nil
}

func addPort(m map[int]*Route, r *Route) error {
	if err := gridapi.ValidExposePort("port", r.Port); err != nil {
		return err
	}
	if m[r.Port] != nil {
		return fmt.Errorf("port: %s %d is routed twice", r.Kind, r.Port)
	}
	m[r.Port] = r
	return nil
}

// HTTP returns the http route of a host name (case-insensitive, port and trailing dot
// ignored), or nil.
func (t *Table) HTTP(host string) *Route {
	if h, _, ok := strings.Cut(host, ":"); ok && !strings.Contains(h, "]") {
		host = h
	}
	return t.byName[strings.TrimSuffix(strings.ToLower(host), ".")]
}

// Port returns the route of a tcp or udp port, or nil.
func (t *Table) Port(kind string, port int) *Route {
	if kind == gridapi.ExposeUDP {
		return t.udp[port]
	}
	return t.tcp[port]
}

// Ports lists the raw ports of a kind, sorted.
func (t *Table) Ports(kind string) []int {
	m := t.tcp
	if kind == gridapi.ExposeUDP {
		m = t.udp
	}
	out := make([]int, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Routes returns the routes in config order (shared: do not modify).
func (t *Table) Routes() []Route { return t.cfg.Routes }

// Config returns the config the table was built from.
func (t *Table) Config() Config { return t.cfg }

// Backends is the set of every backend of every route, per network, sorted: what the
// gateway may reach (the egress allow-list of package nft).
func (t *Table) Backends() map[string][]netip.AddrPort {
	out := map[string][]netip.AddrPort{}
	for _, r := range t.cfg.Routes {
		out[r.Network] = append(out[r.Network], r.Backends...)
	}
	for k, v := range out {
		slices.SortFunc(v, func(a, b netip.AddrPort) int { return a.Compare(b) })
		out[k] = slices.Compact(v)
	}
	return out
}
