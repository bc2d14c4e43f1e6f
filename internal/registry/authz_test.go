package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
)

// writeOp is one kind of registry write; prep returns a fresh request target (it may
// create state, e.g. a network to delete) and the identity allowed to do it ("" = any).
type writeOp struct {
	name string
	prep func(t *testing.T, w *world, who string) (method, path string, body any, allowed string)
}

func authzOps(netSpec func(w *world) gridapi.NetworkSpec) []writeOp {
	node := func(w *world, rest string) string { return fmt.Sprintf("/v1/nodes/%d%s", w.idA, rest) }
	freshNet := func(t *testing.T, w *world) string {
		spec := netSpec(w)
		spec.Name = fmt.Sprintf("n%d", time.Now().UnixNano())
		spec.IPRange = fmt.Sprintf("10.%d.0.0/16", time.Now().UnixNano()%250)
		for _, n := range mustNetworks(t, w) { // keep ranges disjoint
			mustOK(t, w.user.DeleteNetwork(context.Background(), n.ID))
		}
		n, err := w.user.CreateNetwork(context.Background(), spec)
		mustOK(t, err)
		return n.ID
	}
	return []writeOp{
		{"create farm", func(_ *testing.T, _ *world, who string) (string, string, any, string) {
			return "POST", "/v1/farms", gridapi.FarmCreate{Name: fmt.Sprintf("f-%s-%d", who, time.Now().UnixNano())}, ""
		}},
		{"register node", func(_ *testing.T, _ *world, who string) (string, string, any, string) {
			return "POST", "/v1/nodes", nil, "" // body set per key below (needs the farm id)
		}},
		{"report facts", func(_ *testing.T, w *world, _ string) (string, string, any, string) {
			return "PUT", node(w, "/facts"), gridapi.NodeFacts{Version: fmt.Sprint(time.Now().UnixNano())}, "nodeA"
		}},
		{"heartbeat", func(_ *testing.T, w *world, _ string) (string, string, any, string) {
			return "POST", node(w, "/heartbeat"), nil, "nodeA"
		}},
		{"set public config", func(_ *testing.T, w *world, _ string) (string, string, any, string) {
			return "PUT", node(w, "/public-config"), gridapi.PublicConfig{IPv4: "198.51.100.7/24", GW4: "198.51.100.1"}, "farmer"
		}},
		{"set farm egress allow list", func(_ *testing.T, w *world, _ string) (string, string, any, string) {
			return "PUT", fmt.Sprintf("/v1/farms/%d/egress-allow", w.farm.ID), gridapi.FarmEgressAllow{Allow: []string{"10.201.0.50/32:873/tcp"}}, "farmer"
		}},
		{"unset public config", func(_ *testing.T, w *world, _ string) (string, string, any, string) {
			return "DELETE", node(w, "/public-config"), nil, "farmer"
		}},
		{"report nr", func(t *testing.T, w *world, _ string) (string, string, any, string) {
			id := freshNet(t, w)
			return "PUT", node(w, "/networks/"+id+"/report"), gridapi.NRReport{PublicKey: wgKey1, ListenPort: 1, State: "up"}, "nodeA"
		}},
		{"update network", func(t *testing.T, w *world, _ string) (string, string, any, string) {
			id := freshNet(t, w)
			n, err := w.anon.Network(context.Background(), id)
			mustOK(t, err)
			return "PUT", "/v1/networks/" + id, gridapi.NetworkSpec{Name: n.Name, IPRange: n.IPRange, Members: []int64{w.idB}}, "user"
		}},
		{"delete network", func(t *testing.T, w *world, _ string) (string, string, any, string) {
			return "DELETE", "/v1/networks/" + freshNet(t, w), nil, "user"
		}},
		{"create exposure", func(t *testing.T, w *world, _ string) (string, string, any, string) {
			id := freshNet(t, w)
			return "POST", "/v1/exposures", exposeSpec(t, w, id, fmt.Sprintf("n%d", time.Now().UnixNano())), "user"
		}},
		{"delete exposure", func(t *testing.T, w *world, _ string) (string, string, any, string) {
			id := freshNet(t, w)
			e, err := w.user.CreateExposure(context.Background(), exposeSpec(t, w, id, fmt.Sprintf("n%d", time.Now().UnixNano())))
			mustOK(t, err)
			return "DELETE", "/v1/exposures/" + e.ID, nil, "user"
		}},
		{"report exposure", func(t *testing.T, w *world, _ string) (string, string, any, string) {
			id := freshNet(t, w)
			e, err := w.user.CreateExposure(context.Background(), exposeSpec(t, w, id, fmt.Sprintf("n%d", time.Now().UnixNano())))
			mustOK(t, err)
			rep := gridapi.ExposureReport{Backends: []gridapi.BackendHealth{{Addr: e.Resolved[0], Healthy: true}}}
			return "PUT", fmt.Sprintf("/v1/nodes/%d/exposures/%s/report", w.idB, e.ID), rep, "nodeB"
		}},
		{"create workload", func(t *testing.T, w *world, _ string) (string, string, any, string) {
			return "POST", "/v1/networks/" + freshNet(t, w) + "/workloads", gridapi.WorkloadSpec{Name: "w1", NodeID: w.idA}, "user"
		}},
		{"delete workload", func(t *testing.T, w *world, _ string) (string, string, any, string) {
			id := freshWorkload(t, w, freshNet(t, w))
			return "DELETE", "/v1/networks/" + id + "/workloads/w1", nil, "user"
		}},
		{"report workload", func(t *testing.T, w *world, _ string) (string, string, any, string) {
			id := freshWorkload(t, w, freshNet(t, w))
			return "PUT", node(w, "/workloads/"+id+"/w1/report"), gridapi.WorkloadReport{State: "up", IPv4: "10.1.1.5/24"}, "nodeA"
		}},
		{"add public ips", func(_ *testing.T, w *world, _ string) (string, string, any, string) {
			return "POST", fmt.Sprintf("/v1/farms/%d/public-ips", w.farm.ID), gridapi.PublicIPsAdd{IPs: []string{freshIP() + "/16"}, Gateway: "198.18.0.1"}, "farmer"
		}},
		{"remove public ip", func(t *testing.T, w *world, _ string) (string, string, any, string) {
			ip := freshIP()
			_, err := w.farmer.AddPublicIPs(context.Background(), fmt.Sprint(w.farm.ID), gridapi.PublicIPsAdd{IPs: []string{ip + "/16"}, Gateway: "198.18.0.1"})
			mustOK(t, err)
			return "DELETE", fmt.Sprintf("/v1/farms/%d/public-ips/%s", w.farm.ID, ip), nil, "farmer"
		}},
	}
}

// exposeSpec gives node B a gateway domain and returns an http exposure on it towards
// a host of node A's subnet of network id.
func exposeSpec(t *testing.T, w *world, id, name string) gridapi.ExposureSpec {
	t.Helper()
	ctx := context.Background()
	_, err := w.farmer.SetPublicConfig(ctx, w.idB, gridapi.PublicConfig{IPv4: "198.51.100.8/24", GW4: "198.51.100.1", Domain: "gw1.farm1.test"})
	mustOK(t, err)
	n, err := w.anon.Network(ctx, id)
	mustOK(t, err)
	return gridapi.ExposureSpec{Network: id, Kind: "http", Gateway: w.idB, Name: name, Backends: []string{hostIn(t, n, w.idA, 10, 8080)}}
}

// hostIn is host number h of node's subnet in n, with port.
func hostIn(t testing.TB, n gridapi.Network, node int64, h, port int) string {
	t.Helper()
	for _, m := range n.Members {
		if m.NodeID == node {
			a := netip.MustParsePrefix(m.Subnet).Addr()
			for range h {
				a = a.Next()
			}
			return netip.AddrPortFrom(a, uint16(port)).String()
		}
	}
	t.Fatalf("node %d is not a member of %s", node, n.ID)
	return ""
}

// freshWorkload deploys workload w1 on node A in network id, as the user.
func freshWorkload(t *testing.T, w *world, id string) string {
	_, err := w.user.CreateWorkload(context.Background(), id, gridapi.WorkloadSpec{Name: "w1", NodeID: w.idA})
	mustOK(t, err)
	return id
}

var ipSeq atomic.Int64

// freshIP returns an address of 198.18.0.0/16 no earlier call returned.
func freshIP() string {
	n := ipSeq.Add(1)
	return fmt.Sprintf("198.18.%d.%d", 1+n/250, 1+n%250)
}

func mustNetworks(t *testing.T, w *world) []gridapi.Network {
	ns, err := w.anon.Networks(context.Background(), w.userK.ID())
	mustOK(t, err)
	return ns
}

// TestAuthorizationMatrix sends every write as every identity, and as the allowed
// identity unsigned, forged, expired and replayed.
func TestAuthorizationMatrix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w := newWorld(t, st)
		otherFarmer := newKey(t)
		_, err := (&gridapi.Client{Base: w.url, Key: otherFarmer}).CreateFarm(context.Background(), gridapi.FarmCreate{Name: "other-farm"})
		mustOK(t, err)
		keys := map[string]*identity.Key{"farmer": w.farmerK, "otherFarmer": otherFarmer, "user": w.userK,
			"otherUser": newKey(t), "nodeA": w.nodeA.Key, "nodeB": w.nodeB.Key}
		spec := func(w *world) gridapi.NetworkSpec {
			return gridapi.NetworkSpec{Name: "m", IPRange: "10.1.0.0/16", Members: []int64{w.idA, w.idB}}
		}
		for _, op := range authzOps(spec) {
			for who, key := range keys {
				method, path, body, allowed := op.prep(t, w, who)
				if op.name == "register node" {
					body = gridapi.NodeRegister{FarmID: w.farm.ID, Name: "reg-" + key.ID()[:8]}
					if who == "nodeA" {
						body = gridapi.NodeRegister{FarmID: w.farm.ID, Name: "farm1"}
					} else if who == "nodeB" {
						body = gridapi.NodeRegister{FarmID: w.farm.ID, Name: "home1"}
					}
				}
				want := http.StatusForbidden
				if allowed == "" || allowed == who {
					want = 0 // any 2xx
				}
				code := send(t, w.url, method, path, body, key, "signed")
				if (want == 0 && code/100 != 2) || (want != 0 && code != want) {
					t.Errorf("%s as %s: status %d, want %v", op.name, who, code, wantStr(want))
				}
			}
			for _, mode := range []string{"unsigned", "forged", "expired", "replayed"} {
				method, path, body, allowed := op.prep(t, w, "x")
				if allowed == "" {
					allowed = "user"
				}
				if op.name == "register node" {
					body = gridapi.NodeRegister{FarmID: w.farm.ID, Name: "farm1"}
					allowed = "nodeA"
				}
				if code := send(t, w.url, method, path, body, keys[allowed], mode); code != http.StatusUnauthorized {
					t.Errorf("%s %s as %s: status %d, want 401", op.name, mode, allowed, code)
				}
			}
		}
	})
}

func wantStr(code int) string {
	if code == 0 {
		return "2xx"
	}
	return fmt.Sprint(code)
}

// send makes one raw request; mode is signed, unsigned, forged, expired or replayed
// (replayed: sent twice, the second answer is returned and the first must be 2xx).
func send(t *testing.T, base, method, path string, body any, key *identity.Key, mode string) int {
	t.Helper()
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	mk := func() *http.Request {
		r, err := http.NewRequest(method, base+path, bytes.NewReader(data))
		mustOK(t, err)
		return r
	}
	r := mk()
	switch mode {
	case "signed", "replayed":
		mustOK(t, key.SignRequest(r, data, time.Now()))
	case "forged":
		mustOK(t, newKey(t).SignRequest(r, data, time.Now()))
		r.Header.Set(identity.HeaderKey, key.ID())
	case "expired":
		mustOK(t, key.SignRequest(r, data, time.Now().Add(-5*time.Minute)))
	}
	code := do(t, r)
	if mode != "replayed" {
		return code
	}
	if code/100 != 2 {
		t.Errorf("%s %s: first send of replay got %d", method, path, code)
	}
	r2 := mk()
	r2.Header = r.Header.Clone()
	return do(t, r2)
}

func do(t *testing.T, r *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	mustOK(t, err)
	resp.Body.Close()
	return resp.StatusCode
}
