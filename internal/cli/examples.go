package cli

import "strings"

// examples are the commands' examples by command path, kept in one table so a command
// group's file stays about behaviour. A command may also set Example itself; Root only
// fills in the ones left empty. TestEveryCommandHasAnExample fails for a command without
// one and for an entry here that names no command.
var examples = map[string]string{
	"zosnet": `zosnet key create && zosnet profile set lab --registry https://198.51.100.10:8443 --ca ca.crt
zosnet network create demo --range 10.100.0.0/16 --nodes farm1,farm2,home1
zosnet network status demo`,

	"zosnet key": `zosnet key create`,
	"zosnet key create": `zosnet key create            # keys/default.key in the config dir
zosnet key create farmer     # keys/farmer.key`,
	"zosnet key show": `zosnet key show farmer --json`,

	"zosnet profile":      `zosnet profile set lab --registry https://198.51.100.10:8443 --ca ca.crt --use`,
	"zosnet profile set":  `zosnet profile set lab --registry https://198.51.100.10:8443 --ca /etc/zosnet/ca.crt --key farmer --use`,
	"zosnet profile use":  `zosnet profile use lab`,
	"zosnet profile list": `zosnet profile list`,

	"zosnet farm":        `zosnet farm create myfarm --key farmer`,
	"zosnet farm create": `zosnet farm create myfarm --key farmer   # its id goes on the nodes' kernel command line: farmer_id=ID`,
	"zosnet farm list":   `zosnet farm list --json`,
	"zosnet farm show":   `zosnet farm show myfarm`,
	"zosnet farm allow": `zosnet farm allow myfarm 10.201.0.50/32:873/tcp 10.201.0.60/32   # a mirror's rsync, a NAS
zosnet farm allow myfarm                                            # none: the Internet only`,

	"zosnet network": `zosnet network create demo --range 10.100.0.0/16 --nodes farm1,farm2,home1
zosnet network status demo`,
	"zosnet network create": `zosnet network create demo --range 10.100.0.0/16 --nodes farm1,farm2,home1,home6`,
	"zosnet network show":   `zosnet network show demo --json`,
	"zosnet network delete": `zosnet network delete demo`,
	"zosnet network list": `zosnet network list
zosnet network list --all --json`,
	"zosnet network add-node":    `zosnet network add-node demo home2 farm3`,
	"zosnet network rm-node":     `zosnet network rm-node demo home2`,
	"zosnet network remove-node": `zosnet network remove-node demo home2`,
	"zosnet network add-peer":    `zosnet network add-peer demo phone=$(wg pubkey < phone.key)`,
	"zosnet network rm-peer":     `zosnet network rm-peer demo phone`,
	"zosnet network access":      `zosnet network access add demo --device laptop`,
	"zosnet network access add": `zosnet network access add demo --device laptop   # writes ./demo-laptop.conf
zosnet network access add demo --device laptop --out laptop.conf
wg-quick up ./laptop.conf`,
	"zosnet network status": `zosnet network status demo
zosnet network status demo --json
zosnet network status demo --graph svg > demo.svg
zosnet network status demo --graph dot > demo.dot
neato -n2 -Tpng demo.dot -o demo.png      # with Graphviz, the same layout`,

	"zosnet ui": `zosnet ui                          # prints http://127.0.0.1:PORT/?token=...: open it in a browser
zosnet ui --listen 127.0.0.1:8099 --refresh 5s`,

	"zosnet workload": `zosnet workload add demo farm1 web1
zosnet workload show demo web1`,
	"zosnet workload add": `zosnet workload add demo farm1 web1                       # a container
zosnet workload add demo home1 vm1 --kind vm              # a VM's tap: DHCP and RAs from the node
zosnet workload add demo farm1 www --public-ipv4 --public-ipv6`,
	"zosnet workload list": `zosnet workload list
zosnet workload list demo --json`,
	"zosnet workload show":        `zosnet workload show demo web1 --json`,
	"zosnet workload rm":          `zosnet workload rm demo web1`,
	"zosnet farm public-ips":      `zosnet farm public-ips add myfarm 203.0.113.50/24 203.0.113.51/24 --gateway 203.0.113.1`,
	"zosnet farm public-ips add":  `zosnet farm public-ips add myfarm 203.0.113.50/24 203.0.113.51/24 --gateway 203.0.113.1 --key farmer`,
	"zosnet farm public-ips rm":   `zosnet farm public-ips rm myfarm 203.0.113.51 --key farmer`,
	"zosnet farm public-ips list": `zosnet farm public-ips list myfarm`,

	"zosnet expose": `zosnet expose http demo shop --to 10.100.2.10:8080
curl https://shop.gw1.farm1.test/`,
	"zosnet expose http": `zosnet expose http demo shop --to web1:8080,web2:8080 --gateway farm1
zosnet expose http demo api --to 10.100.2.10:8080
zosnet expose http demo git --to 10.100.2.11:443 --tls passthrough`,
	"zosnet expose tcp":  `zosnet expose tcp demo --to 10.100.2.12:5432 --port 5432 --proxy-protocol`,
	"zosnet expose udp":  `zosnet expose udp demo --to 10.100.2.13:51820`,
	"zosnet expose list": `zosnet expose list --json`,
	"zosnet expose show": `zosnet expose show shop.gw1.farm1.test`,
	"zosnet expose rm":   `zosnet expose rm shop.gw1.farm1.test`,

	"zosnet node": `zosnet node status            # on a node: uplinks, endpoints, hidden or not
zosnet node list --farm myfarm  # anywhere: the grid's nodes`,
	"zosnet node list": `zosnet node list --farm myfarm`,
	"zosnet node show": `zosnet node show farm1 --json`,
	"zosnet node status": `zosnet node status
zosnet node status --json`,
	"zosnet node nr":      `zosnet node nr list`,
	"zosnet node nr list": `zosnet node nr list --json`,
	"zosnet node nr show": `zosnet node nr show nk3x9q2m`,
	"zosnet node nr apply": `zosnet node nr apply nr.json
echo '{"network_id":"test1","ip_range":"10.1.0.0/16","subnet":"10.1.1.0/24","peers":[]}' | zosnet node nr apply -`,
	"zosnet node nr rm":   `zosnet node nr rm test1`,
	"zosnet node wg":      `zosnet node wg show`,
	"zosnet node wg show": `zosnet node wg show nk3x9q2m`,
	"zosnet node workload": `zosnet node workload add nk3x9q2m web1
zosnet node workload list`,
	"zosnet node workload add": `zosnet node workload add demo web1              # network name or id; a network namespace wl-web1
ip netns exec wl-web1 ping -c1 10.100.3.1       # run something inside it
zosnet node workload add nk3x9q2m vm1 --tap    # a tap for a VM`,
	"zosnet node workload rm":   `zosnet node workload rm web1`,
	"zosnet node workload list": `zosnet node workload list --json`,
	"zosnet node public-config": `zosnet node public-config set farm1 --ipv4 203.0.113.10/24 --gw4 203.0.113.1`,
	"zosnet node public-config set": `zosnet node public-config set farm1 --ipv4 203.0.113.10/24 --gw4 203.0.113.1   # registry, as the farm owner
zosnet node public-config set --ipv6 2001:db8:100::10/64 --gw6 fe80::1          # this node's networkd`,
	"zosnet node public-config show": `zosnet node public-config show farm1
zosnet node public-config show          # this node`,
	"zosnet node public-config unset": `zosnet node public-config unset farm1`,
}

// attachExamples sets each command's Example from the table when it has none.
func (c *Command) attachExamples(path []string) {
	path = append(path, c.Name)
	if c.Example == "" {
		c.Example = examples[strings.Join(path, " ")]
	}
	for _, s := range c.Sub {
		s.attachExamples(path)
	}
}
