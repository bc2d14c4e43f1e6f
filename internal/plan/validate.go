package plan

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
)

// ErrInvalid is wrapped by every error about malformed input (a field that is missing,
// out of range, or inconsistent with another).
var ErrInvalid = errors.New("invalid network input")

// ErrImpossible is wrapped by every error about valid input that no plan can satisfy
// (hidden members without a public member, a range too small, ...); the message says
// what to add.
var ErrImpossible = errors.New("impossible network")

// MaxAddresses bounds a member's endpoint candidates and LAN addresses (each), so that
// comparing two members' LAN facts stays cheap whatever the input.
const MaxAddresses = 16

var (
	networkIDRe  = regexp.MustCompile(`^[a-z0-9]{1,11}$`)
	nodeIDRe     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	deviceNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)
)

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// ValidKey reports whether s is a base64-encoded 32-byte WireGuard key.
func ValidKey(s string) bool {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// validateNetwork checks the network fields and returns the effective subnet bits.
func validateNetwork(n Network) (int, error) {
	var errs []error
	if !networkIDRe.MatchString(n.ID) {
		errs = append(errs, invalid("network.id", "%q must match [a-z0-9]{1,11}", n.ID))
	}
	bits := n.SubnetBits
	if bits == 0 {
		bits = DefaultSubnetBits
	}
	switch {
	case !n.Range.IsValid():
		errs = append(errs, invalid("network.range", "missing"))
	case !n.Range.Addr().Is4():
		errs = append(errs, invalid("network.range", "%s is not IPv4", n.Range))
	case n.Range.Masked() != n.Range:
		errs = append(errs, invalid("network.range", "%s has host bits set (did you mean %s?)", n.Range, n.Range.Masked()))
	case n.Range.Bits() < 8 || n.Range.Bits() > 30:
		errs = append(errs, invalid("network.range", "%s must be between /8 and /30", n.Range))
	case bits < n.Range.Bits() || bits > 30:
		errs = append(errs, invalid("network.subnet_bits", "/%d must be between the range's /%d and /30", bits, n.Range.Bits()))
	}
	return bits, errors.Join(errs...)
}

// validateMember checks one member's own fields (not its relation to others).
func validateMember(m Member, field string) error {
	var errs []error
	if !nodeIDRe.MatchString(m.NodeID) {
		errs = append(errs, invalid(field+".node_id", "%q must match [A-Za-z0-9._-]{1,64}", m.NodeID))
	}
	if len(m.Name) > 64 {
		errs = append(errs, invalid(field+".name", "longer than 64 characters"))
	}
	if !ValidKey(m.PublicKey) {
		errs = append(errs, invalid(field+".public_key", "%q is not a base64 32-byte WireGuard key", m.PublicKey))
	}
	if m.ListenPort < 1 || m.ListenPort > 65535 {
		errs = append(errs, invalid(field+".listen_port", "%d is not in 1-65535", m.ListenPort))
	}
	if len(m.Endpoints) > MaxAddresses {
		errs = append(errs, invalid(field+".endpoints", "%d candidates, at most %d", len(m.Endpoints), MaxAddresses))
	}
	for i, e := range m.Endpoints {
		errs = append(errs, validateEndpoint(e, fmt.Sprintf("%s.endpoints[%d]", field, i)))
	}
	errs = append(errs, validateLAN(m.LAN, field+".lan"))
	if m.RelayWeight < 0 || m.RelayWeight > MaxRelayWeight {
		errs = append(errs, invalid(field+".relay_weight", "%d is not in 0-%d", m.RelayWeight, MaxRelayWeight))
	}
	return errors.Join(errs...)
}

func validateEndpoint(e Endpoint, field string) error {
	switch {
	case !e.Addr.IsValid():
		return invalid(field+".addr", "missing")
	case e.Addr.Zone() != "" || e.Addr.Is4In6():
		return invalid(field+".addr", "%s: no zones or IPv4-mapped IPv6", e.Addr)
	case e.Addr.IsUnspecified() || e.Addr.IsMulticast() || e.Addr.IsLoopback() || e.Addr.IsLinkLocalUnicast():
		return invalid(field+".addr", "%s is not a unicast address a peer can use", e.Addr)
	case e.Family != "" && e.Family != familyOf(e.Addr):
		return invalid(field+".family", "%q does not match address %s", e.Family, e.Addr)
	case e.Reachable && e.Addr.Is6() && !globalV6(e.Addr):
		return invalid(field+".reachable", "%s is not a global IPv6 address", e.Addr)
	}
	return nil
}

func validateLAN(l LAN, field string) error {
	var errs []error
	if l.PublicSource.IsValid() && (l.PublicSource.Zone() != "" || l.PublicSource.Is4In6()) {
		errs = append(errs, invalid(field+".public_source", "%s: no zones or IPv4-mapped IPv6", l.PublicSource))
	}
	if len(l.Addresses) > MaxAddresses {
		errs = append(errs, invalid(field+".addresses", "%d addresses, at most %d", len(l.Addresses), MaxAddresses))
	}
	if len(l.Router) > 64 {
		errs = append(errs, invalid(field+".router", "longer than 64 characters"))
	}
	for i, p := range l.Addresses {
		f := fmt.Sprintf("%s.addresses[%d]", field, i)
		switch {
		case !p.IsValid():
			errs = append(errs, invalid(f, "missing"))
		case !p.Addr().IsPrivate() && !sharedCGN(p.Addr()):
			errs = append(errs, invalid(f, "%s is not a private (RFC 1918, 100.64/10 or ULA) address", p))
		case p.Addr().Zone() != "" || p.Bits() == 0 || p.Masked().Addr() == p.Addr():
			errs = append(errs, invalid(f, "%s must be a host address with its LAN prefix length", p))
		}
	}
	return errors.Join(errs...)
}

func validateDevice(d AccessPeer, field string, rangeOK func(string) error) error {
	var errs []error
	if !deviceNameRe.MatchString(d.Name) {
		errs = append(errs, invalid(field+".name", "%q must match [A-Za-z0-9._-]{1,32}", d.Name))
	}
	if !ValidKey(d.PublicKey) {
		errs = append(errs, invalid(field+".public_key", "%q is not a base64 32-byte WireGuard key", d.PublicKey))
	}
	if d.Family != "" && d.Family != IPv4 && d.Family != IPv6 {
		errs = append(errs, invalid(field+".family", "%q must be ipv4, ipv6 or empty", d.Family))
	}
	errs = append(errs, rangeOK(field+".address"))
	return errors.Join(errs...)
}
