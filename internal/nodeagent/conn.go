package nodeagent

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// ConnState is the node's connection to the registry as its agent and watcher last saw
// it. The zero value means "not tried yet".
type ConnState struct {
	// Connected: the last request answered (any answer but a 5xx or a transport error).
	Connected bool `json:"connected"`
	// Since is when the state last flipped (connected since, or retrying since).
	Since time.Time `json:"since"`
	// LastError is the last failure ("" when none yet) and LastErrorAt its time.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// LastContact is the last time the registry answered.
	LastContact time.Time `json:"last_contact,omitzero"`
}

// Conn records the registry connection; the agent and the watcher share one. Safe for
// concurrent use; OnChange (optional, set before use) is called, outside the lock,
// whenever Connected flips.
type Conn struct {
	OnChange func(ConnState)

	mu sync.Mutex
	st ConnState
}

// State returns the current state.
func (c *Conn) State() ConnState {
	if c == nil {
		return ConnState{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// OK records an answer from the registry at now. A nil Conn records nothing.
func (c *Conn) OK(now time.Time) { c.set(true, "", now) }

// Record records the failed request err at now: an answer of the registry (any status
// but a 5xx, or a 503 with Retry-After: it sheds load and says when to come back)
// still means it is reachable. A nil Conn records nothing.
func (c *Conn) Record(err error, now time.Time) {
	if c == nil {
		return
	}
	var e *gridapi.APIError
	if errors.As(err, &e) && (e.Status < 500 || shed(e)) {
		c.set(true, "", now)
		c.mu.Lock()
		c.st.LastError, c.st.LastErrorAt = err.Error(), now
		c.mu.Unlock()
		return
	}
	c.set(false, err.Error(), now)
}

func (c *Conn) set(connected bool, errText string, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	flipped := c.st.Since.IsZero() || c.st.Connected != connected
	if flipped {
		c.st.Connected, c.st.Since = connected, now
	}
	if connected {
		c.st.LastContact = now
	} else {
		c.st.LastError, c.st.LastErrorAt = errText, now
	}
	st, fn := c.st, c.OnChange
	c.mu.Unlock()
	if flipped && fn != nil {
		fn(st)
	}
}

// shed reports a registry shedding load: 503 with a Retry-After. It is up and
// answering; counting it as unreachable made every node of a busy grid report the
// registry down (and flip back) during a registration storm.
func shed(e *gridapi.APIError) bool {
	return e.Status == http.StatusServiceUnavailable && e.RetryAfter > 0
}
