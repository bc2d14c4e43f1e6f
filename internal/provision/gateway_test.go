package provision

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/zosnet/zosnet/internal/gateway"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

type fakeGateway struct {
	applied []gateway.Config
	fail    error
	status  map[string]gridapi.ExposureReport
}

func (g *fakeGateway) Apply(_ context.Context, c gateway.Config) error {
	if g.fail != nil {
		return g.fail
	}
	g.applied = append(g.applied, c)
	return nil
}

func (g *fakeGateway) Status() map[string]gridapi.ExposureReport { return g.status }

type fakeFW struct{ calls []nodeapi.GatewayFirewall }

func (f *fakeFW) SetGatewayFirewall(_ context.Context, g nodeapi.GatewayFirewall) error {
	f.calls = append(f.calls, g)
	return nil
}

type fakeReporter struct{ sent []string }

func (r *fakeReporter) ReportExposure(_ context.Context, _ int64, id string, _ gridapi.ExposureReport) error {
	r.sent = append(r.sent, id)
	return nil
}

// TestSyncGateway: the node's exposures reach the gateway once per change; networkd's
// firewall opens the union of old and new before the switch and closes to the new
// after it; a failed apply is retried on the next pass; reports go out on change only.
func TestSyncGateway(t *testing.T) {
	gw, fw, rep := &fakeGateway{status: map[string]gridapi.ExposureReport{}}, &fakeFW{}, &fakeReporter{}
	f := newFakeNodeWith(Config{Gateway: gw, GatewayFW: fw, Reporter: rep})
	pc := &gridapi.PublicConfig{IPv4: "203.0.113.10/24", GW4: "203.0.113.1", Domain: "gw1.farm1.test"}
	web := gridapi.Exposure{ID: "e1", Network: "net1", Gateway: 2, Kind: "http", Name: "web", FQDN: "web.gw1.farm1.test",
		TLS: "passthrough", Resolved: []string{"10.1.2.10:443"}}
	db := gridapi.Exposure{ID: "e2", Network: "net1", Gateway: 2, Kind: "tcp", Port: 20000, Resolved: []string{"10.1.2.11:5432"}}
	d := gridapi.Desired{NodeID: 2, Revision: 1, PublicConfig: pc, Exposures: []gridapi.Exposure{web, db}}

	f.pass(t, d)
	if len(gw.applied) != 1 || len(gw.applied[0].Routes) != 2 || gw.applied[0].Domain != "gw1.farm1.test" {
		t.Fatalf("applied %+v", gw.applied)
	}
	want := nodeapi.GatewayFirewall{TCPPorts: []uint16{80, 443, 20000}, UDPPorts: []uint16{},
		Backends: map[string][]string{"net1": {"tcp:10.1.2.10:443", "tcp:10.1.2.10:80", "tcp:10.1.2.11:5432"}}}
	if len(fw.calls) != 2 || !reflect.DeepEqual(fw.calls[1], want) {
		t.Fatalf("firewall calls %+v\nwant last %+v", fw.calls, want)
	}
	f.pass(t, d) // unchanged: nothing sent again
	if len(gw.applied) != 1 || len(fw.calls) != 2 {
		t.Fatalf("re-applied an unchanged config: %d applies, %d firewall calls", len(gw.applied), len(fw.calls))
	}

	gw.status["e2"] = gridapi.ExposureReport{Backends: []gridapi.BackendHealth{{Addr: "10.1.2.11:5432", Healthy: true}}}
	f.pass(t, d)
	f.pass(t, d)
	if len(rep.sent) != 1 {
		t.Fatalf("reports sent %v, want one (unchanged reports wait)", rep.sent)
	}
	gw.status["e2"] = gridapi.ExposureReport{Backends: []gridapi.BackendHealth{{Addr: "10.1.2.11:5432", Healthy: false}}}
	f.pass(t, d)
	if len(rep.sent) != 2 {
		t.Fatalf("a changed report was not sent: %v", rep.sent)
	}

	d.Exposures, d.Revision = []gridapi.Exposure{db}, 2 // web removed
	gw.fail = errors.New("port busy")
	f.pass(t, d)
	gw.fail = nil
	f.pass(t, d) // retried
	last := fw.calls[len(fw.calls)-1]
	if len(gw.applied) != 2 || len(gw.applied[1].Routes) != 1 || !reflect.DeepEqual(last.TCPPorts, []uint16{20000}) ||
		!reflect.DeepEqual(last.Backends["net1"], []string{"tcp:10.1.2.11:5432"}) {
		t.Fatalf("after removal: applied %d, firewall %+v", len(gw.applied), last)
	}
}
