package wg

import (
	"net"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestFormatUAPI(t *testing.T) {
	var k wgtypes.Key
	k[0] = 1
	port := 51820
	ka := 25 * time.Second
	_, n, _ := net.ParseCIDR("10.1.2.0/24")
	tests := []struct {
		name string
		cfg  wgtypes.Config
		want string
	}{
		{"empty", wgtypes.Config{}, ""},
		{"full", wgtypes.Config{PrivateKey: &k, ListenPort: &port, ReplacePeers: true, Peers: []wgtypes.PeerConfig{{
			PublicKey: k, Endpoint: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 7}, PersistentKeepaliveInterval: &ka,
			ReplaceAllowedIPs: true, AllowedIPs: []net.IPNet{*n}}}},
			"private_key=01" + strings.Repeat("0", 62) + "\nlisten_port=51820\nreplace_peers=true\npublic_key=01" + strings.Repeat("0", 62) +
				"\nendpoint=192.0.2.1:7\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.1.2.0/24\n"},
		{"remove", wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: k, Remove: true, Endpoint: &net.UDPAddr{}}}},
			"public_key=01" + strings.Repeat("0", 62) + "\nremove=true\n"},
		{"v6 endpoint", wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: k, UpdateOnly: true, Endpoint: &net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 9}}}},
			"public_key=01" + strings.Repeat("0", 62) + "\nupdate_only=true\nendpoint=[2001:db8::1]:9\n"},
	}
	for _, tt := range tests {
		if got := FormatUAPI(tt.cfg); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestParseUAPI(t *testing.T) {
	in := "private_key=" + strings.Repeat("11", 32) + "\nlisten_port=3000\npublic_key=" + strings.Repeat("22", 32) +
		"\nendpoint=192.0.2.1:7\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=5\ntx_bytes=10\nrx_bytes=20\n" +
		"persistent_keepalive_interval=25\nallowed_ip=10.1.2.0/24\nallowed_ip=fd00::/64\nprotocol_version=1\nerrno=0\n"
	d, err := ParseUAPI("w-x", in)
	if err != nil {
		t.Fatal(err)
	}
	if d.ListenPort != 3000 || d.PrivateKey[0] != 0x11 || d.PublicKey != d.PrivateKey.PublicKey() || len(d.Peers) != 1 {
		t.Fatalf("device %+v", d)
	}
	p := d.Peers[0]
	if p.PublicKey[0] != 0x22 || p.Endpoint.String() != "192.0.2.1:7" || p.LastHandshakeTime.Unix() != 1700000000 ||
		p.LastHandshakeTime.Nanosecond() != 5 || p.TransmitBytes != 10 || p.ReceiveBytes != 20 ||
		p.PersistentKeepaliveInterval != 25*time.Second || len(p.AllowedIPs) != 2 {
		t.Fatalf("peer %+v", p)
	}
	for _, bad := range []string{"nonsense", "listen_port=x", "public_key=zz", "errno=2"} {
		if _, err := ParseUAPI("w", bad+"\n"); err == nil {
			t.Errorf("ParseUAPI(%q) accepted", bad)
		}
	}
}
