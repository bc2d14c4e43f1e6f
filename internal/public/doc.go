// Package public is the node's public side: the bridge br-pub and the farmer's public
// config, which builds the `public` namespace where the WireGuard sockets then live.
//
// br-pub is uplinked to the second NIC when one is plugged and hears router
// advertisements of a global IPv6 prefix (the farm's PUBLIC segment), else to `zos`
// through a veth pair (zos-pub in zos ↔ pub-zos in br-pub). With its own NIC, br-pub
// takes a SLAAC address in the host namespace: that is the node's IPv6 endpoint until
// the farmer sets a public config. A chosen NIC stays (no re-probe while enslaved).
//
// A public config (static IPv4 and/or IPv6 with gateways, optional domain) creates
// namespace `public` with one leg on br-pub (pub-h ↔ public) carrying those addresses
// and default routes; without a static IPv6 it takes one by SLAAC. Setting, changing
// and removing it never needs a reboot: Uplinks.Apply moves every NR's WireGuard socket
// between the host and `public` (resource.Applier.SetSockNS); a changed config only
// re-addresses the leg (sockets bound to the wildcard address stay).
//
// Uplinks ties br-pub, ndmz, the firewall tables and the socket namespace together
// and reports the node's uplinks and endpoints. Its methods serialize on one lock and
// are idempotent.
package public
