package registry

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// gatewayWorld is a world whose node B is a gateway (domain gw1.farm1.test) and whose
// user has network "web" with node A only.
func gatewayWorld(t *testing.T, st Store) (*world, gridapi.Network) {
	t.Helper()
	w := newWorld(t, st)
	ctx := context.Background()
	_, err := w.farmer.SetPublicConfig(ctx, w.idB, gridapi.PublicConfig{IPv4: "198.51.100.8/24", GW4: "198.51.100.1", Domain: "gw1.farm1.test"})
	mustOK(t, err)
	n, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "web", IPRange: "10.20.0.0/16", Members: []int64{w.idA}})
	mustOK(t, err)
	return w, n
}

func wantStatus(t *testing.T, err error, status int, field string) {
	t.Helper()
	var e *gridapi.APIError
	if !errors.As(err, &e) || e.Status != status || e.Field != field {
		t.Fatalf("got %v, want status %d on field %q", err, status, field)
	}
}

// TestExposureLifecycle: a name is claimed under the gateway's domain, the gateway
// joins the network as a gateway-only member and sees the exposure in its desired
// state; nobody else can take the name; removing it frees the name and the gateway
// leaves the network.
func TestExposureLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w, n := gatewayWorld(t, st)
		ctx := context.Background()
		spec := gridapi.ExposureSpec{Network: n.ID, Kind: "http", Name: "shop", Backends: []string{hostIn(t, n, w.idA, 10, 8080)}}
		e, err := w.user.CreateExposure(ctx, spec) // gateway picked: B is the only one with a domain
		mustOK(t, err)
		if e.Gateway != w.idB || e.FQDN != "shop.gw1.farm1.test" || e.TLS != "terminate" || e.Resolved[0] != "10.20.0.10:8080" {
			t.Fatalf("exposure %+v", e)
		}
		n2, err := w.anon.Network(ctx, n.ID)
		mustOK(t, err)
		if len(n2.Members) != 2 || n2.Members[1].NodeID != w.idB || !n2.Members[1].Gateway || n2.Members[0].Subnet != n.Members[0].Subnet {
			t.Fatalf("members after expose: %+v", n2.Members)
		}
		d, err := w.anon.Desired(ctx, w.idB, 0, 0)
		mustOK(t, err)
		if len(d.Exposures) != 1 || d.Exposures[0].ID != e.ID || len(d.Networks) != 1 || d.Networks[0].ID != n.ID {
			t.Fatalf("gateway's desired: %d exposures, %d networks", len(d.Exposures), len(d.Networks))
		}

		rep := gridapi.ExposureReport{Backends: []gridapi.BackendHealth{{Addr: e.Resolved[0], Healthy: true}}}
		mustOK(t, w.nodeB.ReportExposure(ctx, w.idB, e.ID, rep))
		wantStatus(t, w.nodeA.ReportExposure(ctx, w.idA, e.ID, rep), http.StatusForbidden, "") // not its gateway
		got, err := w.anon.Exposure(ctx, e.ID)
		mustOK(t, err)
		if got.Status == nil || !got.Status.Backends[0].Healthy || got.Status.Updated.IsZero() {
			t.Fatalf("status after report: %+v", got.Status)
		}

		_, err = w.user.CreateExposure(ctx, spec)
		wantStatus(t, err, http.StatusConflict, "name")
		other := &gridapi.Client{Base: w.url, Key: newKey(t)}
		on, err := other.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "web", IPRange: "10.20.0.0/16", Members: []int64{w.idA}})
		mustOK(t, err)
		ospec := gridapi.ExposureSpec{Network: on.ID, Kind: "http", Name: "shop", Backends: []string{hostIn(t, on, w.idA, 10, 80)}}
		_, err = other.CreateExposure(ctx, ospec)
		wantStatus(t, err, http.StatusConflict, "name") // no takeover
		wantStatus(t, other.DeleteExposure(ctx, e.ID), http.StatusForbidden, "")

		// the owner's network update does not drop the gateway member
		_, err = w.user.UpdateNetwork(ctx, n.ID, gridapi.NetworkSpec{Name: "web", IPRange: "10.20.0.0/16", Members: []int64{w.idA}})
		mustOK(t, err)
		n3, err := w.anon.Network(ctx, n.ID)
		mustOK(t, err)
		if len(n3.Members) != 2 || !n3.Members[1].Gateway || n3.Members[1].Subnet != n2.Members[1].Subnet {
			t.Fatalf("members after update: %+v", n3.Members)
		}

		mustOK(t, w.user.DeleteExposure(ctx, e.ID))
		n4, err := w.anon.Network(ctx, n.ID)
		mustOK(t, err)
		if len(n4.Members) != 1 || n4.Members[0].NodeID != w.idA {
			t.Fatalf("gateway still a member after its last exposure went: %+v", n4.Members)
		}
		_, err = other.CreateExposure(ctx, ospec) // the name is free
		mustOK(t, err)
	})
}

// TestExposurePorts: tcp/udp ports are picked from 20000 up per protocol, an asked
// port that is taken is a conflict, a removed exposure frees its port.
func TestExposurePorts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w, n := gatewayWorld(t, st)
		ctx := context.Background()
		b := []string{hostIn(t, n, w.idA, 5, 5432)}
		mk := func(kind string, port int) (gridapi.Exposure, error) {
			return w.user.CreateExposure(ctx, gridapi.ExposureSpec{Network: n.ID, Kind: kind, Gateway: w.idB, Port: port, Backends: b})
		}
		var got []int
		for _, kind := range []string{"tcp", "tcp", "udp"} {
			e, err := mk(kind, 0)
			mustOK(t, err)
			got = append(got, e.Port)
		}
		if !slices.Equal(got, []int{20000, 20001, 20000}) {
			t.Fatalf("picked ports %v, want [20000 20001 20000]", got)
		}
		e, err := mk("tcp", 5432)
		mustOK(t, err)
		_, err = mk("tcp", 5432)
		wantStatus(t, err, http.StatusConflict, "port")
		mustOK(t, w.user.DeleteExposure(ctx, e.ID))
		_, err = mk("tcp", 5432)
		mustOK(t, err)
		_, err = mk("tcp", 3500)
		wantStatus(t, err, http.StatusBadRequest, "port")
	})
}

// TestExposureRefused: backends off the owner's network, workloads (until issue 11),
// gateways without a domain, and public config changes that would strand exposures.
func TestExposureRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w, n := gatewayWorld(t, st)
		ctx := context.Background()
		for _, c := range []struct {
			name    string
			backend string
			gateway int64
			status  int
			field   string
		}{
			{"outside the network", "192.168.1.10:80", 0, 400, "backends[0]"},
			{"range but no member", "10.20.9.10:80", 0, 400, "backends[0]"},
			{"member's gateway address", hostIn(t, n, w.idA, 1, 80), 0, 400, "backends[0]"},
			{"workload", "web1:80", 0, 400, "backends[0]"},
			{"no domain", hostIn(t, n, w.idA, 10, 80), w.idA, 400, "gateway"},
			{"no such node", hostIn(t, n, w.idA, 10, 80), 999, 400, "gateway"},
		} {
			_, err := w.user.CreateExposure(ctx, gridapi.ExposureSpec{Network: n.ID, Kind: "http", Name: "x", Gateway: c.gateway, Backends: []string{c.backend}})
			t.Run(c.name, func(t *testing.T) { wantStatus(t, err, c.status, c.field) })
		}
		_, err := (&gridapi.Client{Base: w.url, Key: newKey(t)}).CreateExposure(ctx,
			gridapi.ExposureSpec{Network: n.ID, Kind: "http", Name: "x", Backends: []string{hostIn(t, n, w.idA, 10, 80)}})
		wantStatus(t, err, http.StatusForbidden, "") // not the network's owner

		_, err = w.user.CreateExposure(ctx, gridapi.ExposureSpec{Network: n.ID, Kind: "http", Name: "x", Backends: []string{hostIn(t, n, w.idA, 10, 80)}})
		mustOK(t, err)
		_, err = w.farmer.SetPublicConfig(ctx, w.idA, gridapi.PublicConfig{IPv4: "198.51.100.9/24", GW4: "198.51.100.1", Domain: "gw1.farm1.test"})
		wantStatus(t, err, http.StatusConflict, "domain") // one gateway per domain
		_, err = w.farmer.SetPublicConfig(ctx, w.idB, gridapi.PublicConfig{IPv4: "198.51.100.8/24", GW4: "198.51.100.1", Domain: "gw2.farm1.test"})
		wantStatus(t, err, http.StatusConflict, "domain")
		wantStatus(t, w.farmer.UnsetPublicConfig(ctx, w.idB), http.StatusConflict, "")

		mustOK(t, w.user.DeleteNetwork(ctx, n.ID)) // takes its exposures along
		es, err := w.anon.Exposures(ctx, "", w.idB)
		mustOK(t, err)
		if len(es) != 0 {
			t.Fatalf("exposures left after the network went: %+v", es)
		}
		mustOK(t, w.farmer.UnsetPublicConfig(ctx, w.idB))
	})
}

// TestExposureWorkloadBackend: WORKLOAD:PORT resolves to the grid workload's reported
// address; before its node reported it, the exposure is refused and says why.
func TestExposureWorkloadBackend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w, n := gatewayWorld(t, st)
		ctx := context.Background()
		if _, err := w.user.CreateWorkload(ctx, n.ID, gridapi.WorkloadSpec{Name: "web1", NodeID: w.idA}); err != nil {
			t.Fatal(err)
		}
		spec := gridapi.ExposureSpec{Network: n.ID, Kind: "http", Name: "site", Backends: []string{"web1:8080"}}
		_, err := w.user.CreateExposure(ctx, spec)
		wantStatus(t, err, http.StatusConflict, "backends[0]")
		addr := hostIn(t, n, w.idA, 7, 0)
		ip := strings.TrimSuffix(addr, ":0")
		mustOK(t, w.nodeA.ReportWorkload(ctx, w.idA, n.ID, "web1", gridapi.WorkloadReport{State: "up", IPv4: ip + "/24"}))
		e, err := w.user.CreateExposure(ctx, spec)
		mustOK(t, err)
		if e.Backends[0] != "web1:8080" || e.Resolved[0] != ip+":8080" {
			t.Fatalf("backends %v resolved %v", e.Backends, e.Resolved)
		}
	})
}
