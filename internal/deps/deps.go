//go:build tools

// Package deps pins the modules zosnet builds on so that `go mod tidy` keeps them while
// packages that use them are written in parallel. It is never compiled into a binary.
package deps

import (
	_ "github.com/google/nftables"
	_ "github.com/insomniacslk/dhcp/dhcpv4/client4"
	_ "github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/letsencrypt/pebble/v2/cmd/pebble" // the lab's ACME CA (make build)
	_ "github.com/mdlayher/ndp"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "golang.zx2c4.com/wireguard/device"
	_ "golang.zx2c4.com/wireguard/tun"
	_ "golang.zx2c4.com/wireguard/wgctrl"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
