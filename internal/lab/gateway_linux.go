package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/registry/ca"
)

// The gateway side of a booted lab (issue 12), apart from the rest of the lab:
//   - the farmer's DNS: the lab's resolver host (a dns section in the spec) answers a
//     wildcard for each public node's gateway domain (GatewayDomains), pointing at the
//     node's public addresses;
//   - an ACME CA: pebble (Let's Encrypt's test CA, built from its Go module as
//     BinDir/pebble) on host `acme`, its API certificate issued by the lab's CA (which
//     the nodes trust), validating HTTP-01 on port 80 of the names it resolves through
//     the farmer's DNS; its root goes to <lab dir>/zosnet/acme-root.pem, which the
//     `user` host trusts (UserHTTPClient);
//   - the nodes boot with zosnet.acme=<pebble's directory> (the spec's command line),
//     and meshSetup gives the public nodes their domain with their public config.

// ACMEHost is the host pebble runs on.
const ACMEHost = "acme"

// GatewayDomains are the gateway domains the lab's farmer gives the public nodes.
var GatewayDomains = map[string]string{"farm1": "gw1.farm1.test", "farm2": "gw2.farm1.test"}

// publicAddrs are the public config addresses of PublicNodes[i].
func publicAddrs(i int) (v4, v6 string) {
	return fmt.Sprintf("203.0.113.%d", 10+i), fmt.Sprintf("2001:db8:100::%x", 0x10+i)
}

// ACMEDirectory is pebble's directory URL in a lab whose acme host has address a.
func ACMEDirectory(a netip.Addr) string { return "https://" + a.String() + ":14000/dir" }

// hostAddr is the first IPv4 address of a host (invalid when there is no such host).
func (l *Lab) hostAddr(name string) netip.Addr {
	r := l.st.Spec.router(name)
	if r == nil || len(r.Interfaces) == 0 {
		return netip.Addr{}
	}
	p, err := netip.ParsePrefix(r.Interfaces[0].IPv4)
	if err != nil {
		return netip.Addr{}
	}
	return p.Addr()
}

// DNSAddr is the lab's DNS server, which also answers the farmer's gateway domains:
// the first router or host with a dns section (invalid when the lab has none).
func (l *Lab) DNSAddr() netip.Addr {
	for _, r := range append(append([]Router(nil), l.st.Spec.Routers...), l.st.Spec.Hosts...) {
		if r.DNS != nil {
			return l.hostAddr(r.Name)
		}
	}
	return netip.Addr{}
}

// bootGatewayServices starts pebble when the spec has its host (and BinDir pebble, and
// the lab its CA).
func (l *Lab) bootGatewayServices(ctx context.Context, o Options) error {
	a := l.hostAddr(ACMEHost)
	bin := filepath.Join(o.BinDir, "pebble")
	caDir := filepath.Join(l.dir, "registry", "ca")
	if !a.IsValid() || !fileExists(bin) || !fileExists(filepath.Join(caDir, ca.CertFile)) {
		return nil
	}
	if err := l.startPebble(ctx, bin, caDir, a); err != nil {
		return err
	}
	o.Log.Info("boot: ACME CA up", "acme", ACMEDirectory(a), "dns", l.DNSAddr())
	return nil
}

// pebbleConfig is pebble's JSON configuration file.
type pebbleConfig struct {
	Pebble struct {
		ListenAddress           string `json:"listenAddress"`
		ManagementListenAddress string `json:"managementListenAddress"`
		Certificate             string `json:"certificate"`
		PrivateKey              string `json:"privateKey"`
		HTTPPort                int    `json:"httpPort"`
		TLSPort                 int    `json:"tlsPort"`
		OCSPResponderURL        string `json:"ocspResponderURL"`
		ExternalAccountBinding  bool   `json:"externalAccountBindingRequired"`
		KeyAlgorithm            string `json:"keyAlgorithm"`
	} `json:"pebble"`
}

func (l *Lab) startPebble(ctx context.Context, bin, caDir string, a netip.Addr) error {
	dir := filepath.Join(l.dir, "acme")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	crt, key := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	if err := ca.IssueServer(caDir, []string{a.String()}, crt, key); err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	var c pebbleConfig
	p := &c.Pebble
	p.ListenAddress, p.ManagementListenAddress = a.String()+":14000", a.String()+":15000"
	p.Certificate, p.PrivateKey, p.HTTPPort, p.TLSPort, p.KeyAlgorithm = crt, key, 80, 443, "ecdsa"
	b, _ := json.MarshalIndent(c, "", "  ")
	conf := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	argv := []string{tool("env"), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", bin, "-config", conf}
	if d := l.DNSAddr(); d.IsValid() {
		argv = append(argv, "-dnsserver", netip.AddrPortFrom(d, 53).String())
	}
	if err := l.startServer("acme", ACMEHost, 0, argv...); err != nil {
		return err
	}
	return l.fetchACMERoot(ctx, a, filepath.Join(caDir, ca.CertFile))
}

// fetchACMERoot waits for pebble's management API (inside the user host) and saves
// its root, which signs every certificate it issues, for the user host to trust.
func (l *Lab) fetchACMERoot(ctx context.Context, a netip.Addr, labCA string) error {
	pem, err := os.ReadFile(labCA)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc, err := l.HTTPClientIn(UserHost, &tls.Config{RootCAs: pool})
	if err != nil {
		return err
	}
	var root []byte
	err = poll(ctx, 15*time.Second, func() bool {
		resp, err := hc.Get("https://" + a.String() + ":15000/roots/0")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		root, err = io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == 200
	})
	if err != nil {
		out, _ := os.ReadFile(filepath.Join(l.dir, "servers", "acme.out"))
		return fmt.Errorf("acme: pebble did not answer within 15 s: %s", lastLines(string(out), 5))
	}
	return os.WriteFile(l.ACMERootFile(), root, 0o644)
}

// ACMERootFile is where the lab keeps the ACME CA's root (for the user host).
func (l *Lab) ACMERootFile() string { return filepath.Join(l.dir, "zosnet", "acme-root.pem") }

// HTTPClientIn returns an HTTP client whose connections are made inside the named lab
// namespace (host, router or a path) and whose names resolve through the farmer's DNS
// (also asked from inside it): lab traffic never leaves the lab.
func (l *Lab) HTTPClientIn(where string, tc *tls.Config) (*http.Client, error) {
	path := l.NSPath(where)
	if path == "" {
		path = where
	}
	d := &NSDialer{Path: path, DNS: l.DNSAddr()}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: tc, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// NSDialer dials from inside a network namespace (sockets are created there, then used
// from any thread), resolving names with DNS (when valid) from inside it too.
type NSDialer struct {
	Path string
	DNS  netip.Addr
}

// DialContext dials addr ("host:port") from the namespace.
func (d *NSDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if _, err := netip.ParseAddr(host); err != nil && d.DNS.IsValid() {
		ips, err := d.resolver().LookupNetIP(ctx, "ip4", host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("resolve %s with the lab's DNS %s: %v", host, d.DNS, err)
		}
		addr = net.JoinHostPort(ips[0].String(), port)
	}
	return d.raw(ctx, network, addr)
}

func (d *NSDialer) raw(ctx context.Context, network, addr string) (c net.Conn, err error) {
	ns, err := netns.Open(d.Path)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	err = ns.Do(func() error { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return err })
	return c, err
}

func (d *NSDialer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.raw(ctx, network, netip.AddrPortFrom(d.DNS, 53).String())
	}}
}
