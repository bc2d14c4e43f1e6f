package boot

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/testkit"
)

// serveRegistry is the registry stub the lab starts on its registry host until the
// real registry exists: HTTPS (self-signed) on $ZOSNET_LISTEN answering /v1/health.
func serveRegistry() int {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 1
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return 1
	}
	srv := &http.Server{Addr: os.Getenv("ZOSNET_LISTEN"), TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })}
	fmt.Fprintln(os.Stderr, srv.ListenAndServeTLS("", ""))
	return 1
}

// nodeView is what inspect reports about a node's zos bridge.
type nodeView struct {
	Bridge  bool     `json:"bridge"`
	Ports   []string `json:"ports"`
	IPv4    []string `json:"ipv4"`
	IPv6    []string `json:"ipv6"` // global ones
	Gateway string   `json:"gateway"`
	Keeper  bool     `json:"keeper"`  // the lease keeper of /run/zosnet is alive
	Carrier bool     `json:"carrier"` // zos has carrier
}

// inspect prints the calling namespace's zos bridge as JSON (run inside a lab node).
func inspect() int {
	var v nodeView
	br, err := netlink.LinkByName(Bridge)
	if err == nil {
		v.Bridge = br.Type() == "bridge"
		v.Carrier = br.Attrs().RawFlags&unix.IFF_LOWER_UP != 0
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				v.Ports = append(v.Ports, l.Attrs().Name)
			}
		}
		as, _ := netlink.AddrList(br, unix.AF_INET)
		for _, a := range as {
			v.IPv4 = append(v.IPv4, a.IPNet.String())
		}
		as, _ = netlink.AddrList(br, unix.AF_INET6)
		for _, a := range as {
			if a.IP.IsGlobalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				v.IPv6 = append(v.IPv6, a.IPNet.String())
			}
		}
		h, _ := netlink.NewHandle()
		if gw, ok := defaultGateway(h, br); ok {
			v.Gateway = gw.String()
		}
	}
	if pid := readPID("/run/zosnet/" + KeeperPID); pid > 0 {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		v.Keeper = err == nil
	}
	json.NewEncoder(os.Stdout).Encode(v)
	return 0
}

// labBinDir makes a BinDir whose netinit and registry are this test binary in a role.
func labBinDir(t testing.TB) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, role := range []string{"netinit", "registry"} {
		script := fmt.Sprintf("#!/bin/sh\n%s=%s exec %s \"$@\"\n", roleEnv, role, exe)
		if err := os.WriteFile(filepath.Join(dir, role), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// upLab brings a lab up with netinit booting on every node; it is removed at cleanup.
func upLab(t *testing.T, spec *lab.Spec, bootTimeout time.Duration) (*lab.Lab, error) {
	name := fmt.Sprintf("ni%x", os.Getpid()&0xfffff)
	ctx := context.Background()
	t.Cleanup(func() {
		if err := lab.Down(ctx, name); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	l, err := lab.Up(ctx, spec, lab.Options{Name: name, BinDir: labBinDir(t), Boot: true, BootTimeout: bootTimeout, Log: testLog()})
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(lab.StateRoot, name, "nodes", "*", "state", "log", "netinit.log"))
		for _, p := range logs {
			b, _ := os.ReadFile(p)
			t.Logf("%s:\n%s", p, b)
		}
	}
	return l, err
}

func view(t *testing.T, l *lab.Lab, node string) nodeView {
	t.Helper()
	exe, _ := os.Executable()
	cmd, err := l.Command(context.Background(), node, exe)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(cmd.Env, roleEnv+"=inspect")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("inspect %s: %v", node, err)
	}
	var v nodeView
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("inspect %s: %v (%q)", node, err, out)
	}
	return v
}

// TestLabDefaultFarm is the acceptance run: every node of the default lab runs netinit
// at Up; each ends with bridge zos holding its NIC, an IPv4 address from its segment's
// dnsmasq and a default route; home6 also gets a global IPv6 address by SLAAC on zos.
func TestLabDefaultFarm(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l, err := upLab(t, nil, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ nic, net, gw string }{
		"farm1": {"eth0", "10.201.0.0/24", "10.201.0.1"},
		"farm2": {"eth0", "10.201.0.0/24", "10.201.0.1"},
		"farm3": {"eth0", "10.201.0.0/24", "10.201.0.1"},
		"home1": {"eth0", "172.29.1.0/24", "172.29.1.1"},
		"home2": {"eth0", "172.29.1.0/24", "172.29.1.1"},
		"home6": {"eth0", "172.29.6.0/24", "172.29.6.1"},
	}
	for node, w := range want {
		v := view(t, l, node)
		if !v.Bridge || len(v.Ports) != 1 || v.Ports[0] != w.nic || len(v.IPv4) != 1 || v.Gateway != w.gw || !v.Keeper ||
			!netip.MustParsePrefix(w.net).Contains(netip.MustParsePrefix(v.IPv4[0]).Addr()) {
			t.Errorf("node %s: zos %+v, want port %s, an address in %s, gateway %s, a live keeper", node, v, w.nic, w.net, w.gw)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for v := view(t, l, "home6"); len(v.IPv6) == 0; v = view(t, l, "home6") {
		if time.Now().After(deadline) {
			t.Fatalf("home6: no global IPv6 on zos by SLAAC after 20 s: %+v", v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if v := view(t, l, "home6"); !strings.HasPrefix(v.IPv6[0], "2001:db8:600:") {
		t.Errorf("home6 SLAAC address %v, want one in 2001:db8:600::/64", v.IPv6)
	}
}
