package registry

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// TestWithHomes: the registry ships the home relays of the lab's network (hidden
// members behind home NATs, one member that has not reported yet), and every member,
// the unreported one included (it plans with one member more, so it assigns them
// itself), gets exactly the view it would compute without them.
func TestWithHomes(t *testing.T) {
	b, err := os.ReadFile("../plan/testdata/grid-lab.json")
	if err != nil {
		t.Fatal(err)
	}
	var dn gridapi.DesiredNetwork
	if err := json.Unmarshal(b, &dn); err != nil {
		t.Fatal(err)
	}
	shipped := withHomes(dn)
	if shipped.HomesFor != 4 {
		t.Fatalf("homes_for %d, want 4 (the members with a report)", shipped.HomesFor)
	}
	relayed := 0
	for _, p := range shipped.Peers {
		if len(p.Homes) > 0 {
			relayed++
		}
	}
	if relayed == 0 {
		t.Fatal("no member got home relays; the lab's hidden members are relayed")
	}
	for _, p := range dn.Peers {
		self := plan.Self{NodeID: p.NodeID, PublicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", ListenPort: 4000}
		if p.NR != nil {
			self.PublicKey, self.ListenPort = p.NR.PublicKey, p.NR.ListenPort
		}
		id := strconv.FormatInt(p.NodeID, 10)
		want, werr := view(dn, self, id)
		got, gerr := view(shipped, self, id)
		if !reflect.DeepEqual(want, got) || fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Fatalf("member %s: view with shipped homes\n%+v (%v)\nwant\n%+v (%v)", p.Name, got, gerr, want, werr)
		}
	}
	rejected := dn
	rejected.IPRange = "10.1.0.0/30" // too small for the members: the planner rejects it
	if r := withHomes(rejected); r.HomesFor != 0 {
		t.Fatalf("a network the planner rejects shipped homes for %d members", r.HomesFor)
	}
}

func view(dn gridapi.DesiredNetwork, self plan.Self, id string) (plan.MemberPlan, error) {
	in, err := plan.FromGrid(dn, self)
	if err != nil {
		return plan.MemberPlan{}, err
	}
	p, err := plan.New(in)
	if err != nil {
		return plan.MemberPlan{}, err
	}
	return p.Member(id)
}
