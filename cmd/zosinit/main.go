// Command zosinit is the node image's /init (PID 1) and its /sbin/modprobe: it mounts
// the basics, loads kernel modules, writes sysctls, mounts the state disk and
// supervises netinit → networkd → provisiond like 0-OS's zinit. See internal/zinit.
package main

import (
	"os"

	"github.com/zosnet/zosnet/internal/zinit"
)

func main() { os.Exit(zinit.Main()) }
