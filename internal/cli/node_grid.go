package cli

// nodeGridCommands are the `zosnet node ...` commands that talk to the registry
// (list, show).
func nodeGridCommands() []*Command { return nil }
