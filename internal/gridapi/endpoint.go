package gridapi

// The reasons an endpoint candidate is reported with (Endpoint.Reason). The node's
// agent sets them; the registry stores them as given; every member's planner reads
// them (Endpoint.Reachable).
const (
	// ReasonPublicConfig is the farmer's static public address (public config).
	ReasonPublicConfig = "public-config"
	// ReasonPublicIPv4 is a public IPv4 on a NIC.
	ReasonPublicIPv4 = "public-ipv4"
	// ReasonPublicSegment is a SLAAC address on br-pub's own NIC (the unfirewalled
	// public segment).
	ReasonPublicSegment = "public-segment-ipv6"
	// ReasonGlobalIPv6 is a global IPv6 on a NIC, found without networkd (maybe on a
	// home LAN whose router firewalls it inbound).
	ReasonGlobalIPv6 = "global-ipv6"
	// ReasonNetworkd is an address networkd reported for a reason not listed here.
	ReasonNetworkd = "networkd"
)

// Reachable reports whether peers may initiate connections to the endpoint: only
// addresses networkd vouches for (a farmer-set public address, a public IPv4 on a NIC,
// or a SLAAC address on br-pub's own NIC). A global IPv6 on the management/home LAN
// (ReasonGlobalIPv6) does not count: a home router may firewall it inbound (home6), so
// such a node stays hidden.
func (e Endpoint) Reachable() bool {
	switch e.Reason {
	case ReasonPublicConfig, ReasonPublicIPv4, ReasonPublicSegment:
		return true
	}
	return false
}
