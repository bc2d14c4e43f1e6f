package networkd

import (
	"context"
	"maps"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

// SetRegistryStatus keeps provisiond's report of the registry connection (in memory
// only: provisiond reports again after a restart of either daemon).
func (d *Daemon) SetRegistryStatus(ctx context.Context, st nodeapi.RegistryStatus) error {
	if err := st.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.registry = &st
	return nil
}

// recordRestored notes what the first pass at start restored from disk; learned is the
// number of hidden peers' endpoints read back from endpoints.json before it.
func (d *Daemon) recordRestored(took time.Duration, learned int) *nodeapi.Restored {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := &nodeapi.Restored{At: time.Now().UTC(), Took: took, NRs: []string{}, Workloads: len(d.state.Workloads),
		PublicConfig: d.pubCfg != nil, LearnedEndpoints: learned}
	for _, id := range d.state.nrIDs() {
		if d.status[id].state == nodeapi.StateOK {
			r.NRs = append(r.NRs, id)
		} else {
			r.Failed = append(r.Failed, id)
		}
	}
	d.restored = r
	return r
}

// learnedCount is the number of learned endpoints held for NRs in the desired state.
func (d *Daemon) learnedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for id, h := range d.hints {
		if _, ok := d.state.NRs[id]; ok {
			n += len(h)
		}
	}
	return n
}

// watchEndpoints persists the endpoints WireGuard learns for hidden peers as soon as
// they change, checking every period: a networkd killed at any moment restarts with
// them, so its devices handshake with those peers at once instead of waiting for the
// peers' next handshake (~15 s). Changes within one period are coalesced into one
// atomic write (store.WriteJSON: temp file, fsync, rename); nothing is written while
// nothing changed.
func (d *Daemon) watchEndpoints(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := d.lockFor(ctx); err != nil {
			return
		}
		before := d.hints
		err := d.learnEndpoints()
		changed := !sameHints(before, d.hints)
		d.mu.Unlock()
		if changed {
			d.met.endpointsSaved.Inc()
		}
		if err != nil {
			d.log.Debug("learned endpoints", "err", err)
		}
	}
}

func sameHints(a, b map[string]map[string]string) bool {
	return maps.EqualFunc(a, b, maps.Equal)
}

// memoryRelease is how long after an NR change (put or removal) networkd hands freed
// memory back to the OS (changes in between are coalesced).
const memoryRelease = time.Second

// releaseSoon schedules giving freed memory back to the OS. A userspace WireGuard
// device holds ~25 MB of message buffers (batches of 128 × 64 KiB per receive path):
// after its removal they are garbage, but the Go runtime keeps the pages until its
// next cycles and reuses them, zeroed (so resident), for the next device. Under churn
// that grew a node's networkd to hundreds of MB with two NRs left (issue 22). A forced
// collection and scavenge (debug.FreeOSMemory, a few ms for networkd's heap) right
// after removals bounds RSS to what the remaining NRs hold. Puts schedule one too: an
// apply leaves garbage of its own (netlink and nftables messages, a replaced device),
// and without a release after the last change of a burst the runtime keeps those
// pages until its scavenger gets to them. Call with d.mu held.
//
// A release runs at most memoryRelease after the first change it covers (later ones
// do not postpone it), so a burst costs one release a second. Two collections: a removed device's buffer pool stays reachable
// through the runtime's list of sync.Pools until the second.
func (d *Daemon) releaseSoon() {
	if d.releasing {
		return
	}
	d.releasing = true
	d.release = time.AfterFunc(memoryRelease, func() {
		d.mu.Lock()
		d.releasing = false
		d.mu.Unlock()
		start := time.Now()
		runtime.GC()
		debug.FreeOSMemory()
		d.met.memReleases.Observe(time.Since(start).Seconds())
	})
}

// DefaultGCPercent is networkd's GOGC unless Config.GCPercent says otherwise. Almost
// all of networkd's heap is wireguard-go's packet buffers (pointer-free byte arrays,
// cheap to collect), and with Go's default of 100 the garbage allowed between
// collections equals the whole live heap, which reused buffers then make resident.
const DefaultGCPercent = 25
