// Package usernet is what a user does to their networks through the registry, shared by
// the CLI (package cli) and the web view (package webui): find a network by id or name,
// edit its spec without losing a concurrent update, read the view a member node gets,
// and add an access device (its key made here, only the public key registered, its
// wg-quick file rendered once the access node reported).
//
// Functions are safe for concurrent use; each edit is one read and one conditional
// write (retried on a concurrent change), so nothing is half-applied.
package usernet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/plan"
	"github.com/zosnet/zosnet/internal/wgquick"
)

// Find returns a network by id, else by name among the networks of owner (a key id; ""
// looks up by id only).
func Find(ctx context.Context, c *gridapi.Client, owner, idOrName string) (gridapi.Network, error) {
	n, err := c.Network(ctx, idOrName)
	if err == nil || !gridapi.IsStatus(err, 404) || owner == "" {
		if err != nil {
			return n, fmt.Errorf("network %s: %w", idOrName, err)
		}
		return n, nil
	}
	ns, lerr := c.Networks(ctx, owner)
	if lerr != nil {
		return n, fmt.Errorf("network %s: %w", idOrName, lerr)
	}
	for _, x := range ns {
		if x.Name == idOrName {
			return x, nil
		}
	}
	return n, fmt.Errorf("network %s: no network with this id, and none of yours with this name", idOrName)
}

// Edit applies change to the network's spec and writes it with the revision it was read
// at, reading again and retrying (up to 10 times) when someone else changed it meanwhile.
func Edit(ctx context.Context, c *gridapi.Client, owner, idOrName string, change func(*gridapi.NetworkSpec) error) (gridapi.Network, error) {
	for try := 0; ; try++ {
		n, err := Find(ctx, c, owner, idOrName)
		if err != nil {
			return n, err
		}
		s := SpecOf(n)
		if err := change(&s); err != nil {
			return n, err
		}
		out, err := c.UpdateNetwork(ctx, n.ID, s)
		if err == nil || !gridapi.IsStatus(err, 409) || try == 10 {
			return out, err
		}
		var e *gridapi.APIError
		if errors.As(err, &e) && e.Field != "revision" {
			return out, err
		}
	}
}

// SpecOf is the spec that recreates n as it is, with n's revision.
func SpecOf(n gridapi.Network) gridapi.NetworkSpec {
	s := gridapi.NetworkSpec{Name: n.Name, IPRange: n.IPRange, SubnetSize: n.SubnetSize, Revision: n.Revision, Members: []int64{}}
	for _, m := range n.Members {
		s.Members = append(s.Members, m.NodeID)
	}
	for _, p := range n.AccessPeers {
		s.AccessPeers = append(s.AccessPeers, gridapi.AccessPeerSpec{Name: p.Name, PublicKey: p.PublicKey})
	}
	return s
}

// View reads the network with every member's facts and full reports from the
// registry's status route (uncached). A member's desired state is not enough: it
// carries, of each other member's peer list, only whether it lists that member.
func View(ctx context.Context, c *gridapi.Client, n gridapi.Network) (gridapi.DesiredNetwork, error) {
	if len(n.Members) == 0 {
		return gridapi.DesiredNetwork{Network: n}, nil
	}
	dn, err := c.NetworkStatus(ctx, n.ID)
	if err != nil {
		return gridapi.DesiredNetwork{}, fmt.Errorf("network %s: %w", n.Name, err)
	}
	return dn, nil
}

// Planner plans a network from the registry's view of it, as an outsider (no self).
func Planner(dn gridapi.DesiredNetwork) (*plan.Planner, error) {
	in, err := plan.FromGrid(dn, plan.Self{})
	if err != nil {
		return nil, err
	}
	return plan.New(in)
}

// Device is an access device just added: its plan (addresses, access node by name) and
// its wg-quick file, which holds its private key.
type Device struct {
	Network    gridapi.Network `json:"network"`
	Name       string          `json:"device"`
	Address    string          `json:"address"`
	Address6   string          `json:"address6"`
	AccessNode string          `json:"access_node"`
	Conf       []byte          `json:"-"`
}

// AddDevice makes the device's WireGuard key here, registers only its public key in
// the network, waits (up to wait, polling) until the network's access node reported,
// and renders the device's wg-quick file. On an error after the registration the
// device stays in the network (remove it with rm-peer) and the error says so.
func AddDevice(ctx context.Context, c *gridapi.Client, owner, idOrName, device string, wait time.Duration) (Device, error) {
	if err := gridapi.ValidName("device", device); err != nil {
		return Device{}, err
	}
	key, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return Device{}, err
	}
	n, err := Edit(ctx, c, owner, idOrName, func(s *gridapi.NetworkSpec) error {
		s.AccessPeers = append(s.AccessPeers, gridapi.AccessPeerSpec{Name: device, PublicKey: key.PublicKey().String()})
		return nil
	})
	if err != nil {
		return Device{}, fmt.Errorf("network %s: access add: %w", idOrName, err)
	}
	d, dn, err := waitDevice(ctx, c, n, device, wait)
	if err != nil {
		return Device{}, err
	}
	d.AccessNode = plan.NodeName(dn, d.AccessNode)
	var b bytes.Buffer
	if err := wgquick.RenderDevice(&b, n.ID, d, key.String(), 0); err != nil {
		return Device{}, fmt.Errorf("access add: %w", err)
	}
	return Device{Network: n, Name: device, Address: d.Address.String(), Address6: d.Address6.String(), AccessNode: d.AccessNode, Conf: b.Bytes()}, nil
}

func waitDevice(ctx context.Context, c *gridapi.Client, n gridapi.Network, device string, wait time.Duration) (plan.DevicePlan, gridapi.DesiredNetwork, error) {
	deadline := time.Now().Add(wait)
	for {
		dn, err := View(ctx, c, n)
		var d plan.DevicePlan
		if err == nil {
			var p *plan.Planner
			if p, err = Planner(dn); err == nil {
				d, err = p.Device(device)
			}
		}
		if err == nil && d.Peer.Endpoint.IsValid() {
			return d, dn, nil
		}
		if time.Now().After(deadline) {
			return d, dn, fmt.Errorf("access add: device %s is registered but no access node was ready after %s: %v (remove it with `zosnet network rm-peer %s %s`)", device, wait, err, n.Name, device)
		}
		select {
		case <-ctx.Done():
			return d, dn, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
