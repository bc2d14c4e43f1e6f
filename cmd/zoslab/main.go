// Command zoslab is the farm simulator: it builds a whole 0-OS farm out of namespaces on
// this machine for tests, the demo and benchmarks. See `zoslab help` and internal/lab.
package main

import (
	"os"

	"github.com/zosnet/zosnet/internal/lab/labcli"
)

func main() { os.Exit(labcli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
