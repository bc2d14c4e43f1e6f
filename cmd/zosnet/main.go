// Command zosnet is the one CLI of zosnet: for users (networks, access), farmers (farms,
// public configs) and node operators (the local networkd API). See `zosnet help`.
package main

import (
	"os"

	"github.com/zosnet/zosnet/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
