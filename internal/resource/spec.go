// Package resource is a network resource (NR): one user network's piece on one node.
//
// The NR's desired state is nodeapi.NRSpec (the wire type, validated there; its IPv6
// ULA twins come from internal/ula, which the planner shares). spec.go names its kernel
// objects. apply_linux.go holds the applier that makes the kernel match a spec:
// namespace n-<id>, bridge b-<id>, WireGuard link w-<id>, routes, an nftables table
// (built as data: nrTable) and sysctls. Every apply is idempotent.
package resource

// Names are the kernel object names of one network resource.
type Names struct {
	NS     string // network namespace n-<id>
	Bridge string // workload bridge b-<id> in the host namespace (and the NR's leg in n-<id>)
	Veth   string // host end of the NR's leg on the bridge, v-<id>
	WG     string // WireGuard link w-<id> in n-<id>
}

// NamesOf returns the object names for network id (which must be valid).
func NamesOf(id string) Names {
	return Names{NS: "n-" + id, Bridge: "b-" + id, Veth: "v-" + id, WG: "w-" + id}
}
