package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

func TestPrintRecovery(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	res := &nodeapi.Restored{At: now.Add(-time.Minute), Took: 420 * time.Millisecond, NRs: []string{"net1", "net2"},
		Failed: []string{"net3"}, Workloads: 2, LearnedEndpoints: 3}
	for _, c := range []struct {
		name string
		reg  *nodeapi.RegistryStatus
		res  *nodeapi.Restored
		want []string
	}{
		{"nothing yet", nil, nil, []string{"REGISTRY\tunknown", "RESTORED\tnot yet"}},
		{"retrying, not registered", &nodeapi.RegistryStatus{URL: "https://r:8443", Since: now.Add(-90 * time.Second),
			LastError: "connection refused", LastErrorAt: now.Add(-time.Second)}, res,
			[]string{"REGISTRY\tretrying since", "(1m30s ago)\thttps://r:8443", "LAST ERROR\tconnection refused (1s ago)",
				"NODE ID\tnot registered yet", "RESTORED\t2 NRs, 2 workloads, public config false, 3 learned endpoints, in 420ms",
				"NOT RESTORED\tnet3"}},
		{"connected", &nodeapi.RegistryStatus{URL: "https://r:8443", NodeID: 4, Connected: true, Since: now.Add(-5 * time.Second)}, res,
			[]string{"REGISTRY\tconnected since", "(5s ago)"}},
	} {
		var b bytes.Buffer
		printRecovery(&b, c.reg, c.res, now)
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, b.String())
			}
		}
		if c.reg != nil && c.reg.Connected && strings.Contains(b.String(), "NODE ID") {
			t.Errorf("%s: a registered node shown as unregistered:\n%s", c.name, b.String())
		}
	}
}
