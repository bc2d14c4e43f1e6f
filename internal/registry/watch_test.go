package registry

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"gopkg.in/yaml.v3"
)

// TestWatch: a long-poll returns soon after a change that concerns the node, and only
// at its timeout when nothing concerning it changed.
func TestWatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		d0, err := w.nodeA.Desired(ctx, w.idA, 0, time.Second)
		mustOK(t, err)
		type res struct {
			d   gridapi.Desired
			err error
			at  time.Time
		}
		poll := func(c *gridapi.Client, id, rev int64, timeout time.Duration) chan res {
			ch := make(chan res, 1)
			go func() {
				d, err := c.Desired(ctx, id, rev, timeout)
				ch <- res{d, err, time.Now()}
			}()
			return ch
		}
		waitWatchers(t, w, 0)
		// Both watches are far longer than the test: A returning with the new network
		// shows the change woke it (a timeout would return the old revision); B still
		// parked after that shows a change that does not concern it leaves it alone.
		// How soon A wakes is BenchmarkWatchLatency's business.
		a := poll(w.nodeA, w.idA, d0.Revision, 20*time.Second)
		dB, err := w.nodeB.Desired(ctx, w.idB, 0, time.Second)
		mustOK(t, err)
		b := poll(w.nodeB, w.idB, dB.Revision, 20*time.Second)
		waitWatchers(t, w, 2)
		n, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "w", IPRange: "10.5.0.0/16", Members: []int64{w.idA}})
		mustOK(t, err)
		r := <-a
		if r.err != nil || r.d.Revision <= d0.Revision || len(r.d.Networks) != 1 || r.d.Networks[0].ID != n.ID {
			t.Fatalf("watch of A: %+v %v", r.d, r.err)
		}
		waitWatchers(t, w, 1)
		select {
		case rb := <-b:
			t.Fatalf("watch of B (not a member) returned on A's change: rev %d→%d, %v", dB.Revision, rb.d.Revision, rb.err)
		default:
		}
		// a change that does concern B ends its watch with the new revision
		_, err = w.user.UpdateNetwork(ctx, n.ID, gridapi.NetworkSpec{Name: "w", IPRange: "10.5.0.0/16", Members: []int64{w.idA, w.idB}})
		mustOK(t, err)
		if rb := <-b; rb.err != nil || rb.d.Revision <= dB.Revision || len(rb.d.Networks) != 1 {
			t.Fatalf("watch of B after it joined: rev %d→%d, %+v, %v", dB.Revision, rb.d.Revision, rb.d.Networks, rb.err)
		}
	})
}

// waitWatchers polls the metrics until n watchers are parked.
func waitWatchers(t *testing.T, w *world, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := watchersMetric(t, w.url)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("watchers: %d, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConcurrentWriters: nodes heartbeat and report facts while users add members to
// one network with revision-checked read-modify-write: no update is lost.
func TestConcurrentWriters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		const editors, perEditor = 4, 5
		var nodes []*gridapi.Client
		var ids []int64
		for i := range editors * perEditor {
			c := &gridapi.Client{Base: w.url, Key: newKey(t)}
			n, err := c.Register(ctx, gridapi.NodeRegister{FarmID: w.farm.ID, Name: fmt.Sprintf("c%d", i)})
			mustOK(t, err)
			nodes, ids = append(nodes, c), append(ids, n.ID)
		}
		net, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "busy", IPRange: "10.30.0.0/16"})
		mustOK(t, err)
		stop := make(chan struct{})
		var bg sync.WaitGroup
		for i, c := range nodes {
			bg.Add(1)
			go func() {
				defer bg.Done()
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := c.Heartbeat(ctx, ids[i]); err != nil {
						t.Errorf("heartbeat: %v", err)
						return
					}
					if err := c.ReportFacts(ctx, ids[i], gridapi.NodeFacts{Version: fmt.Sprint(k)}); err != nil {
						t.Errorf("facts: %v", err)
						return
					}
				}
			}()
		}
		var ed sync.WaitGroup
		for e := range editors {
			ed.Add(1)
			go func() {
				defer ed.Done()
				for _, id := range ids[e*perEditor : (e+1)*perEditor] {
					addMember(t, w.user, net.ID, id)
				}
			}()
		}
		ed.Wait()
		close(stop)
		bg.Wait()
		final, err := w.anon.Network(ctx, net.ID)
		mustOK(t, err)
		if len(final.Members) != editors*perEditor {
			t.Fatalf("members: %d, want %d (lost updates)", len(final.Members), editors*perEditor)
		}
		seen := map[string]bool{}
		for _, m := range final.Members {
			if seen[m.Subnet] {
				t.Fatalf("subnet %s assigned twice", m.Subnet)
			}
			seen[m.Subnet] = true
		}
	})
}

// addMember adds id to the network, retrying on a revision conflict.
func addMember(t *testing.T, c *gridapi.Client, netID string, id int64) {
	ctx := context.Background()
	for try := 0; try < 100; try++ {
		n, err := c.Network(ctx, netID)
		if err != nil {
			t.Errorf("read network: %v", err)
			return
		}
		spec := gridapi.NetworkSpec{Name: n.Name, IPRange: n.IPRange, SubnetSize: n.SubnetSize, Revision: n.Revision}
		for _, m := range n.Members {
			spec.Members = append(spec.Members, m.NodeID)
		}
		spec.Members = append(spec.Members, id)
		_, err = c.UpdateNetwork(ctx, netID, spec)
		if err == nil {
			return
		}
		if !gridapi.IsStatus(err, 409) {
			t.Errorf("update network: %v", err)
			return
		}
	}
	t.Errorf("add member %d: too many conflicts", id)
}

// TestTwoInstances: two registries on one PostgreSQL answer consistently and both
// deliver watches for changes made through the other.
func TestTwoInstances(t *testing.T) {
	dsn := newPGDatabase(t)
	st1, st2 := openStore(t, dsn), openStore(t, dsn)
	w := newWorld(t, st1)
	hs2 := serve(t, st2, Config{Rate: 1e6, Burst: 1e6})
	ctx := context.Background()
	node2 := &gridapi.Client{Base: hs2.URL, Key: w.nodeB.Key}
	user2 := &gridapi.Client{Base: hs2.URL, Key: w.userK}
	d0, err := node2.Desired(ctx, w.idB, 0, time.Second)
	mustOK(t, err)
	got := make(chan gridapi.Desired, 1)
	go func() {
		d, err := node2.Desired(ctx, w.idB, d0.Revision, 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- d
	}()
	waitWatchers(t, &world{url: hs2.URL}, 1)
	n, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "two", IPRange: "10.40.0.0/16", Members: []int64{w.idB}})
	mustOK(t, err)
	d := <-got // a 20 s watch: the network in it shows the write woke it, not its timeout
	if len(d.Networks) != 1 || d.Networks[0].ID != n.ID {
		t.Fatalf("watch on instance 2 after a write on 1: %+v", d)
	}
	// the other direction, and reads agree
	a0, err := w.nodeA.Desired(ctx, w.idA, 0, time.Second)
	mustOK(t, err)
	gotA := make(chan gridapi.Desired, 1)
	go func() { d, _ := w.nodeA.Desired(ctx, w.idA, a0.Revision, 20*time.Second); gotA <- d }()
	waitWatchers(t, w, 1)
	_, err = user2.UpdateNetwork(ctx, n.ID, gridapi.NetworkSpec{Name: "two", IPRange: "10.40.0.0/16", Members: []int64{w.idB, w.idA}})
	mustOK(t, err)
	if da := <-gotA; len(da.Networks) != 1 {
		t.Fatalf("watch on instance 1 after a write on 2: %+v", da)
	}
	// a request accepted by one instance is a replay for the other
	hb := fmt.Sprintf("/v1/nodes/%d/heartbeat", w.idB)
	r1, _ := http.NewRequest("POST", w.url+hb, nil)
	mustOK(t, w.nodeB.Key.SignRequest(r1, nil, time.Now()))
	if code := do(t, r1); code != http.StatusNoContent {
		t.Fatalf("heartbeat on instance 1: %d", code)
	}
	r2, _ := http.NewRequest("POST", hs2.URL+hb, nil)
	r2.Header = r1.Header.Clone()
	if code := do(t, r2); code != http.StatusUnauthorized {
		t.Fatalf("replay on instance 2: %d, want 401", code)
	}
	n1, err1 := w.anon.Network(ctx, n.ID)
	n2, err2 := (&gridapi.Client{Base: hs2.URL}).Network(ctx, n.ID)
	if err1 != nil || err2 != nil || n1.Revision != n2.Revision || len(n1.Members) != 2 || len(n2.Members) != 2 {
		t.Fatalf("instances disagree: %+v %v / %+v %v", n1, err1, n2, err2)
	}
}

// TestOpenAPICoversRoutes: every route is described, with its method, and nothing more.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	s := &Server{}
	want := map[string]bool{}
	for _, rt := range s.routes() {
		want[rt.method+" "+rt.pattern] = true
	}
	got := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			got[fmt.Sprintf("%s %s", upper(m), p)] = true
		}
	}
	for r := range want {
		if !got[r] {
			t.Errorf("route %s missing from openapi.yaml", r)
		}
	}
	for r := range got {
		if !want[r] {
			t.Errorf("openapi.yaml describes %s, which the server does not have", r)
		}
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
