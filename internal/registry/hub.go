package registry

import "sync"

// hub wakes watchers (long-polling nodes) when a Change concerns their node. Safe for
// concurrent use.
type hub struct {
	mu       sync.Mutex
	watchers map[int64]map[chan struct{}]struct{}
}

func newHub() *hub { return &hub{watchers: make(map[int64]map[chan struct{}]struct{})} }

// watch returns a channel that receives a value after the next change for node, and a
// function to stop watching.
func (h *hub) watch(node int64) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.watchers[node] == nil {
		h.watchers[node] = make(map[chan struct{}]struct{})
	}
	h.watchers[node][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.watchers[node], ch)
		if len(h.watchers[node]) == 0 {
			delete(h.watchers, node)
		}
		h.mu.Unlock()
	}
}

// count returns the number of active watchers.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, w := range h.watchers {
		n += len(w)
	}
	return n
}

// publish wakes the watchers of c.Nodes (all watchers when c.Nodes is nil). Never blocks.
func (h *hub) publish(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	wake := func(ws map[chan struct{}]struct{}) {
		for ch := range ws {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	if c.Nodes == nil {
		for _, ws := range h.watchers {
			wake(ws)
		}
		return
	}
	for _, n := range c.Nodes {
		wake(h.watchers[n])
	}
}
