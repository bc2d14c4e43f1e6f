package webui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/graph"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// View is what the page shows of one network: its status (members, pairs, paths,
// reachability), the graph drawn by package graph, its access devices and its workloads.
type View struct {
	Status  plan.NetworkStatus   `json:"status"`
	SVG     string               `json:"svg"`
	Nodes   int                  `json:"nodes"`
	Edges   int                  `json:"edges"`
	Devices []gridapi.AccessPeer `json:"devices"`
	// Workloads are the network's grid workloads with the addresses their nodes
	// reported (workloadsOf); exposures join them once gateways exist.
	Workloads []Workload `json:"workloads"`
	Revision  int64      `json:"revision"`
	Read      time.Time  `json:"read"` // when the registry was read
}

// Workload is one workload of the network as the page lists it.
type Workload struct {
	Name    string   `json:"name"`
	Node    string   `json:"node"`
	Addrs   []string `json:"addrs"`
	Exposed []string `json:"exposed,omitempty"` // public names or addresses, once gateways exist
}

// workloadsOf lists the grid workloads for the page: node names from the status's
// members, the reported overlay and public addresses (without prefix lengths), and the
// state while the node has not reported it up (or its error).
func workloadsOf(ws []gridapi.Workload, members []plan.MemberStatus) []Workload {
	names := map[int64]string{}
	for _, m := range members {
		names[m.NodeID] = m.Name
	}
	out := make([]Workload, 0, len(ws))
	for _, w := range ws {
		node := names[w.NodeID]
		if node == "" {
			node = fmt.Sprintf("node %d", w.NodeID)
		}
		v := Workload{Name: w.Name, Node: node, Addrs: []string{}}
		r := w.Report
		if r == nil {
			v.Addrs = append(v.Addrs, "(not reported yet)")
			out = append(out, v)
			continue
		}
		for _, a := range []string{r.IPv4, r.IPv6} {
			if a != "" {
				v.Addrs = append(v.Addrs, strings.SplitN(a, "/", 2)[0])
			}
		}
		for _, a := range []string{r.PublicIPv4, r.PublicIPv6} {
			if a != "" {
				v.Exposed = append(v.Exposed, strings.SplitN(a, "/", 2)[0]+" (public)")
			}
		}
		if r.Error != "" {
			v.Addrs = append(v.Addrs, "error: "+r.Error)
		} else if r.State != "" && r.State != "up" {
			v.Addrs = append(v.Addrs, "("+r.State+")")
		}
		out = append(out, v)
	}
	return out
}

// fetch reads one network's view from the registry (one request) and encodes it.
func (s *Server) fetch(ctx context.Context, id string) ([]byte, error) {
	dn, err := s.cfg.Client.NetworkStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	st := plan.StatusOf(dn, now, plan.Fresh)
	g := graph.FromStatus(st)
	var svg bytes.Buffer
	if err := g.WriteSVG(&svg); err != nil {
		return nil, err
	}
	ws, err := s.cfg.Client.Workloads(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("workloads of %s: %w", id, err)
	}
	v := View{Status: st, SVG: svg.String(), Nodes: len(g.Nodes), Edges: len(g.Edges), Devices: dn.AccessPeers,
		Workloads: workloadsOf(ws, st.Members), Revision: dn.Revision, Read: now.UTC()}
	if v.Devices == nil {
		v.Devices = []gridapi.AccessPeer{}
	}
	return json.Marshal(v)
}

// hub runs one poller per network that has open views and fans its reads out to them.
type hub struct {
	fetch   func(ctx context.Context, id string) ([]byte, error)
	refresh time.Duration
	log     *slog.Logger
	mu      sync.Mutex
	nets    map[string]*poller
}

type poller struct {
	subs   map[chan []byte]bool
	last   []byte
	poke   chan struct{}
	cancel context.CancelFunc
}

func newHub(fetch func(context.Context, string) ([]byte, error), refresh time.Duration, log *slog.Logger) *hub {
	return &hub{fetch: fetch, refresh: refresh, log: log, nets: map[string]*poller{}}
}

// subscribe adds a view of network id; the channel gets every new read (the latest
// only, when the view is slow). The poller stops with its last view.
func (h *hub) subscribe(id string) (<-chan []byte, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.nets[id]
	if p == nil {
		ctx, cancel := context.WithCancel(context.Background())
		p = &poller{subs: map[chan []byte]bool{}, poke: make(chan struct{}, 1), cancel: cancel}
		h.nets[id] = p
		go h.run(ctx, id, p)
	}
	ch := make(chan []byte, 1)
	p.subs[ch] = true
	if p.last != nil {
		ch <- p.last
	}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(p.subs, ch)
		if len(p.subs) == 0 && h.nets[id] == p {
			p.cancel()
			delete(h.nets, id)
		}
	}
}

// poke makes network id's poller read now (after a change made here).
func (h *hub) poke(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.nets[id]; p != nil {
		select {
		case p.poke <- struct{}{}:
		default:
		}
	}
}

func (h *hub) run(ctx context.Context, id string, p *poller) {
	t := time.NewTicker(h.refresh)
	defer t.Stop()
	for {
		b, err := h.fetch(ctx, id)
		if err != nil && ctx.Err() == nil {
			h.log.Warn("ui: network status", "network", id, "err", err)
			b, _ = json.Marshal(apiError{Error: fmt.Sprintf("reading network %s from the registry: %v", id, err)})
		}
		if ctx.Err() != nil {
			return
		}
		h.publish(p, b)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.poke:
		}
	}
}

func (h *hub) publish(p *poller, b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if bytes.Equal(p.last, b) {
		return
	}
	p.last = b
	for ch := range p.subs {
		select { // keep only the newest for a slow view
		case <-ch:
		default:
		}
		ch <- b
	}
}

// snapshot answers one view of the network, read now.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := gridapi.ValidName("network", id); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.fetch(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// events streams the network's views as server-sent events ("view", or "problem"
// when the registry could not be read) until the page goes away.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := gridapi.ValidName("network", id); err != nil {
		s.fail(w, r, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		refuse(w, http.StatusInternalServerError, "", "streaming unsupported")
		return
	}
	ch, stop := s.live.subscribe(id)
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\n\n")
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case b := <-ch:
			ev := "view"
			if bytes.HasPrefix(b, []byte(`{"error"`)) {
				ev = "problem"
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev, b); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
