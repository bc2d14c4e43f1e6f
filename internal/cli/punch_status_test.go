package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/plan"
)

// TestPrintStatusPunched: a punched pair shows as such in the pairs table, and a relayed
// hidden pair gets a line saying why it is not punched; no section without one.
func TestPrintStatusPunched(t *testing.T) {
	st := plan.NetworkStatus{Name: "n", ID: "n1", Pairs: []plan.NetworkPair{
		{PairStatus: plan.PairStatus{From: "easy", To: "full", Path: plan.PathPunched, Reachable: true}},
		{PairStatus: plan.PairStatus{From: "hard", To: "easy", Path: plan.PathRelayed, Via: "farm1"}, NotPunched: "gave-up: no handshake (NAT seen: ...)"},
	}}
	var b bytes.Buffer
	printStatus(&b, st)
	out := b.String()
	if !strings.Contains(out, "easy\tfull\tpunched\t-") || !strings.Contains(out, "WHY NOT PUNCHED\nhard → easy: gave-up: no handshake") {
		t.Errorf("status:\n%s", out)
	}
	st.Pairs = st.Pairs[:1]
	b.Reset()
	printStatus(&b, st)
	if strings.Contains(b.String(), "WHY NOT PUNCHED") {
		t.Errorf("a why section without relayed hidden pairs:\n%s", b.String())
	}
}
