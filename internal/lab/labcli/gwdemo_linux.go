package labcli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
)

// demoGateway is the demo's last part (issue 12): a web service in the workload on
// hidden home1 is exposed through farm1's gateway and fetched from the user host by
// name over HTTPS, with a certificate from the lab's ACME CA.
func demoGateway(ctx context.Context, w io.Writer, m *scenario.Mesh, ws []scenario.Workload) error {
	var target scenario.Workload
	for _, x := range ws {
		if x.Node == "home1" {
			target = x
		}
	}
	svc, err := m.StartService(ctx, target, "--http", ":8080", "--as", "the workload on home1")
	if err != nil {
		return err
	}
	defer svc.Stop()
	backend := netip.AddrPortFrom(target.IPv4.Addr(), 8080).String()
	name := "hello." + lab.GatewayDomains["farm1"]
	say(w, "", "Finally the user publishes a web service that runs in the workload on hidden home1. The",
		"farmer gave farm1 the gateway domain "+lab.GatewayDomains["farm1"]+" (the farmer's DNS has a wildcard for it):",
		"  zosnet expose http demo hello --to "+backend+" --gateway farm1")
	t := time.Now()
	e, err := m.Expose(ctx, "http", "demo", "hello", "--to", backend, "--gateway", "farm1")
	if err != nil {
		return err
	}
	c, err := m.UserClient()
	if err != nil {
		return err
	}
	body, _, err := scenario.WaitGet(ctx, c, "https://"+name+"/", 30*time.Second)
	if err != nil {
		return err
	}
	_, _, resp, err := scenario.Get(ctx, c, "https://"+name+"/")
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(body, "\n")
	fmt.Fprintf(w, "\nFrom the user host, https://%s/ answers (%s after expose, %s, certificate by %q):\n  %s\n",
		e.FQDN, time.Since(t).Round(10*time.Millisecond), resp.Proto, resp.TLS.PeerCertificates[0].Issuer.CommonName, first)
	say(w, "The request reached farm1's public address, its gateway took TLS off with an ACME certificate",
		"for the name, and carried the request over the user's encrypted network to home1, which",
		"accepts no connection from the internet.")
	return nil
}
