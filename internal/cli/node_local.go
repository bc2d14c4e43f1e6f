package cli

// nodeLocalCommands are the `zosnet node ...` commands that talk to the local networkd
// over its unix socket (nr, wg, workload, status, public-config).
func nodeLocalCommands() []*Command { return nil }
