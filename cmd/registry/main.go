// Command registry is the zosnet grid database server. See package registry.
//
//	registry --db ./grid.db --tls-cert server.crt --tls-key server.key
//	registry --db postgres://... --insecure-http --listen 127.0.0.1:8080
//	registry ca init --dir ./ca
//	registry ca issue --dir ./ca --host 198.51.100.2 --out ./server
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/zosnet/zosnet/internal/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := registry.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
