// Package lab is zoslab, the farm simulator: it builds a whole 0-OS farm (segments,
// routers with NAT and firewalls, real dnsmasq and radvd, nodes with private mounts) out
// of namespaces on one Linux box, for tests, the demo and benchmarks.
//
// A lab has a name (default "lab"); every object it makes carries it: named network
// namespaces /run/netns/<name>-<router|host> and /run/netns/<name>-s-<segment>, node
// holder processes and servers marked with ZOSLAB_LAB=<name> in their environment, state
// under /run/zoslab/<name>/. Down finds everything by those marks, so it also cleans up
// after a crash or a half-finished Up. Two labs with different names coexist.
//
// A node is a holder process (a re-exec of the running binary, see holder_linux.go) in
// new network, mount, PID and UTS namespaces, with its own /run, /sys, /proc, a per-node
// /proc/cmdline and the node's state directory on /var/lib/zosnet. Enter it with
// Lab.Command (nsenter), never through `ip netns exec`. A node of kind vm is instead a
// qemu guest booting the node image, with taps on its segments and a guest agent that
// Lab.Command goes through (vmspec.go, vm_linux.go).
//
// Functions that change a lab are not safe to call concurrently on the same lab; Status
// and Command are.
package lab

import (
	_ "embed"
	"fmt"
)

//go:embed specs/default.yaml
var defaultYAML []byte

// DefaultSpec returns the default farm (specs/default.yaml): internet with registry and
// user, farmgw with OOB and PUBLIC segments and farm1..farm3, homegw with home1 and home2,
// home6gw with home6. Each call returns a fresh copy.
func DefaultSpec() *Spec {
	s, err := ParseSpec(defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("lab: embedded default spec is invalid: %v", err))
	}
	return s
}
