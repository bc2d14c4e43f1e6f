package networkd

import (
	"errors"
	"fmt"

	"github.com/zosnet/zosnet/internal/firewall"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/resource"
)

// gatewayFirewall opens g's ports in the public namespace (with managed uplinks) and
// puts each NR's gateway table in place: the backends of its network, or none (the
// table is removed where a network has no backends).
func (r *reconciler) gatewayFirewall(g nodeapi.GatewayFirewall, nrs []string) error {
	var errs []error
	if r.managed {
		errs = append(errs, r.up.SetGatewayPorts(g.TCPPorts, g.UDPPorts))
	}
	for _, id := range nrs {
		errs = append(errs, r.gatewayNR(id, g.Backends[id]))
	}
	return errors.Join(errs...)
}

// gatewayNR applies (or, without backends, removes) NR id's gateway table.
func (r *reconciler) gatewayNR(id string, backends []string) error {
	ns, err := netns.OpenNamed(r.netnsDir, resource.NamesOf(id).NS)
	if err != nil {
		return fmt.Errorf("gateway firewall of nr %s: %w", id, err)
	}
	defer ns.Close()
	if len(backends) == 0 {
		return firewall.Remove(ns, firewall.GatewayTable)
	}
	bs := make([]firewall.Backend, 0, len(backends))
	for _, b := range backends {
		gb, err := nodeapi.ParseGatewayBackend(b)
		if err != nil {
			return err
		}
		bs = append(bs, firewall.Backend{Addr: gb.Addr, Proto: gb.Proto})
	}
	return firewall.ApplyGateway(ns, bs)
}
