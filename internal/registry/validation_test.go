package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestValidation sends bad input and checks the status, the field named, and that
// nothing was stored (the revision did not move).
func TestValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		_, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "taken", IPRange: "10.9.0.0/16"})
		mustOK(t, err)
		netw := func(s string) string {
			return fmt.Sprintf(s, w.idA, w.idB)
		}
		node := fmt.Sprintf("/v1/nodes/%d", w.idA)
		cases := []struct {
			name, who, method, path, body string
			status                        int
			field                         string
		}{
			{"bad cidr", "user", "POST", "/v1/networks", `{"name":"n","ip_range":"10.0.0.0/33"}`, 400, "ip_range"},
			{"host bits", "user", "POST", "/v1/networks", `{"name":"n","ip_range":"10.0.0.1/16"}`, 400, "ip_range"},
			{"ipv6 range", "user", "POST", "/v1/networks", `{"name":"n","ip_range":"fd00::/48"}`, 400, "ip_range"},
			{"subnet too small", "user", "POST", "/v1/networks", `{"name":"n","ip_range":"10.0.0.0/16","subnet_size":31}`, 400, "subnet_size"},
			{"subnet larger than range", "user", "POST", "/v1/networks", `{"name":"n","ip_range":"10.0.0.0/16","subnet_size":8}`, 400, "subnet_size"},
			{"range too small", "user", "POST", "/v1/networks", netw(`{"name":"n","ip_range":"10.0.0.0/24","members":[%d,%d]}`), 400, "members"},
			{"unknown node", "user", "POST", "/v1/networks", `{"name":"n","ip_range":"10.0.0.0/16","members":[99999]}`, 400, "members[0]"},
			{"duplicate member", "user", "POST", "/v1/networks", netw(`{"name":"n","ip_range":"10.0.0.0/16","members":[%d,%d,%[1]d]}`), 400, "members[2]"},
			{"short wg key", "user", "POST", "/v1/networks", `{"name":"n","ip_range":"10.0.0.0/16","access_peers":[{"name":"p","public_key":"AAAA"}]}`, 400, "access_peers[0].public_key"},
			{"empty name", "user", "POST", "/v1/networks", `{"name":"","ip_range":"10.0.0.0/16"}`, 400, "name"},
			{"numeric name", "user", "POST", "/v1/networks", `{"name":"123","ip_range":"10.0.0.0/16"}`, 400, "name"},
			{"overlap", "user", "POST", "/v1/networks", `{"name":"n","ip_range":"10.9.5.0/24"}`, 409, "ip_range"},
			{"duplicate name", "user", "POST", "/v1/networks", `{"name":"taken","ip_range":"10.8.0.0/16"}`, 409, "name"},
			{"unknown field", "user", "POST", "/v1/networks", `{"name":"n","ip_range":"10.0.0.0/16","color":"red"}`, 400, "body"},
			{"trailing data", "user", "POST", "/v1/networks", `{"name":"n","ip_range":"10.0.0.0/16"} {}`, 400, "body"},
			{"not json", "user", "POST", "/v1/networks", `nope`, 400, "body"},
			{"farm name", "farmer", "POST", "/v1/farms", `{"name":"a b"}`, 400, "name"},
			{"bad mac", "nodeA", "PUT", node + "/facts", `{"nics":[{"name":"eth0","mac":"zz"}]}`, 400, "nics[0].mac"},
			{"bad addr", "nodeA", "PUT", node + "/facts", `{"nics":[{"name":"eth0","addrs":["10.0.0.1"]}]}`, 400, "nics[0].addrs[0]"},
			{"long nic", "nodeA", "PUT", node + "/facts", `{"nics":[{"name":"a-very-long-nic-name"}]}`, 400, "nics[0].name"},
			{"family", "nodeA", "PUT", node + "/facts", `{"endpoints":[{"ip":"10.0.0.1","family":6,"reason":"x"}]}`, 400, "endpoints[0].family"},
			{"port", "nodeA", "PUT", node + "/facts", `{"wg_ports":[70000]}`, 400, "wg_ports[0]"},
			{"pc empty", "farmer", "PUT", node + "/public-config", `{}`, 400, "ipv4"},
			{"pc gw outside", "farmer", "PUT", node + "/public-config", `{"ipv4":"198.51.100.7/24","gw4":"203.0.113.1"}`, 400, "gw4"},
			{"pc v6 as v4", "farmer", "PUT", node + "/public-config", `{"ipv4":"2001:db8::1/64"}`, 400, "ipv4"},
			{"pc gw6 alone", "farmer", "PUT", node + "/public-config", `{"ipv4":"198.51.100.7/24","gw4":"198.51.100.1","gw6":"2001:db8::1"}`, 400, "gw6"},
			{"pc no gw", "farmer", "PUT", node + "/public-config", `{"ipv4":"198.51.100.7/24"}`, 400, "gw4"},
			{"pc private", "farmer", "PUT", node + "/public-config", `{"ipv4":"10.0.0.7/24","gw4":"10.0.0.1"}`, 400, "ipv4"},
			{"pc domain", "farmer", "PUT", node + "/public-config", `{"ipv6":"2001:db8::7/64","gw6":"fe80::1","domain":"Not A Name"}`, 400, "domain"},
			{"node id", "nodeA", "PUT", "/v1/nodes/farm1/facts", `{}`, 400, "node"},
			{"register farm", "nodeA", "POST", "/v1/nodes", `{"farm_id":0,"name":"x"}`, 400, "farm_id"},
			{"too large", "user", "POST", "/v1/networks", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "body"},
		}
		keys := map[string]*gridapi.Client{"user": w.user, "farmer": w.farmer, "nodeA": w.nodeA}
		for _, tc := range cases {
			before, err := w.anon.Health(ctx)
			mustOK(t, err)
			status, e := sendRaw(t, w.url, tc.method, tc.path, []byte(tc.body), keys[tc.who])
			if status != tc.status || e.Field != tc.field {
				t.Errorf("%s: %d %+v, want %d field %q", tc.name, status, e, tc.status, tc.field)
			}
			after, err := w.anon.Health(ctx)
			mustOK(t, err)
			if after.Revision != before.Revision {
				t.Errorf("%s: revision moved %d → %d: something was stored", tc.name, before.Revision, after.Revision)
			}
		}
		for _, q := range []string{"/v1/nodes?farm=x", "/v1/networks?owner=abc", fmt.Sprintf("/v1/nodes/%d/desired?revision=-1", w.idA),
			fmt.Sprintf("/v1/nodes/%d/desired?timeout=1h", w.idA)} {
			if status, _ := sendRaw(t, w.url, "GET", q, nil, nil); status != 400 {
				t.Errorf("GET %s: %d, want 400", q, status)
			}
		}
	})
}

func sendRaw(t *testing.T, base, method, path string, body []byte, c *gridapi.Client) (int, gridapi.Error) {
	t.Helper()
	r, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	mustOK(t, err)
	if c != nil {
		mustOK(t, c.Key.SignRequest(r, body, time.Now()))
	}
	resp, err := http.DefaultClient.Do(r)
	mustOK(t, err)
	defer resp.Body.Close()
	var e gridapi.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}
