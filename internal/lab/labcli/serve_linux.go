package labcli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/zosnet/zosnet/internal/lab"
)

// serveCmd is `zoslab serve`: the lab's test service, run in a workload as the
// backend of exposures (lab.WebHandler says what it answers).
func serveCmd() *command {
	var o lab.WebOptions
	var stdinStop bool
	return &command{
		name: "serve", usage: "[--http ADDR] [--https ADDR] [--tcp-echo ADDR] [--udp-echo ADDR] [--as NAME] [--proxy-protocol]",
		summary: "the lab's test service (run it in a workload): who-am-I, bytes, stream, WebSocket echo, TCP/UDP echo",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.HTTP, "http", "", "HTTP listen address")
			fs.StringVar(&o.HTTPS, "https", "", "HTTPS listen address (a self-signed certificate for --as)")
			fs.StringVar(&o.TCPEcho, "tcp-echo", "", "TCP echo listen address")
			fs.StringVar(&o.UDPEcho, "udp-echo", "", "UDP echo listen address")
			fs.StringVar(&o.Name, "as", "backend", "the service's name (answers, certificate)")
			fs.BoolVar(&o.ProxyProtocol, "proxy-protocol", false, "require a PROXY protocol header on TCP")
			fs.BoolVar(&stdinStop, "stdin-stop", false, "stop when standard input ends (how tests stop it)")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
			}
			if o.HTTP == "" && o.HTTPS == "" && o.TCPEcho == "" && o.UDPEcho == "" {
				return fmt.Errorf("%w: nothing to serve: give --http, --https, --tcp-echo or --udp-echo", errUsage)
			}
			o.OnListening = func() { fmt.Fprintln(e.out, "listening") }
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if stdinStop {
				go func() { io.Copy(io.Discard, os.Stdin); cancel() }() // the caller closed our stdin: stop
			}
			return lab.ServeWeb(ctx, o)
		},
	}
}
