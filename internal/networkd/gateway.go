package networkd

import (
	"context"
	"fmt"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

const gatewayFirewallFile = "gateway-firewall.json"

// GatewayFirewall returns the gateway firewall being applied (the zero value on a
// node that serves no exposures).
func (d *Daemon) GatewayFirewall(ctx context.Context) (nodeapi.GatewayFirewall, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gwFW, nil
}

// SetGatewayFirewall persists g and applies it: the gateway's public ports open in the
// public namespace, and in each NR namespace new connections of the node itself may
// only reach that network's backends. Applied again after every NR apply and resync.
func (d *Daemon) SetGatewayFirewall(ctx context.Context, g nodeapi.GatewayFirewall) error {
	if err := g.Validate(); err != nil {
		return err
	}
	if err := d.lockFor(ctx); err != nil {
		return err
	}
	defer d.mu.Unlock()
	if err := d.store.WriteJSON(gatewayFirewallFile, g); err != nil {
		return err
	}
	d.gwFW = g
	return d.applyGatewayLocked()
}

// applyGatewayLocked applies d.gwFW to the uplinks and every NR (mu held).
func (d *Daemon) applyGatewayLocked() error {
	return d.rec.gatewayFirewall(d.gwFW, d.state.nrIDs())
}

func (d *Daemon) loadGatewayFirewall() error {
	var g nodeapi.GatewayFirewall
	if _, err := d.store.ReadJSON(gatewayFirewallFile, &g); err != nil {
		return err
	}
	if err := g.Validate(); err != nil {
		return fmt.Errorf("state file %s: %w", gatewayFirewallFile, err)
	}
	d.gwFW = g
	return nil
}
