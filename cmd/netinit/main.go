// Command netinit is the node's boot-time network initializer: it brings the node
// online (bridge zos on the chosen NIC, DHCP or static address, SLAAC) and exits 0 once
// the registry is reachable, leaving a detached `netinit keep` process holding the DHCP
// lease for the life of the node. See internal/boot and docs/netinit.md.
package main

import (
	"os"

	"github.com/zosnet/zosnet/internal/boot"
)

func main() { os.Exit(boot.Main(os.Args[1:], os.Stdout, os.Stderr)) }
