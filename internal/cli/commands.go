package cli

// rootCommands lists the top-level command groups. Each group's commands live in their
// own file; the "node" group is shared by the local networkd API (node_local.go) and the
// registry (node_grid.go).
func rootCommands() []*Command {
	return []*Command{
		{Name: "node", Summary: "this node (local networkd API) and the grid's nodes (registry)",
			Sub: append(append(nodeLocalCommands(), nodeUplinkCommands()...), nodeGridCommands()...)},
		{Name: "key", Summary: "your ed25519 identity keys", Sub: keyCommands()},
		{Name: "profile", Summary: "registry profiles (URL, CA, key) in the config file", Sub: profileCommands()},
		{Name: "farm", Summary: "farms in the registry", Sub: append(farmCommands(), farmPublicIPCommands())},
		{Name: "network", Summary: "your networks in the registry", Sub: append(networkCommands(), meshCommands()...)},
		{Name: "workload", Summary: "your workloads (containers, VMs) on your networks' nodes", Sub: workloadCommands()},
		uiCommand(),
		{Name: "expose", Summary: "publish services of your networks through gateways (names, ports)", Sub: exposeCommands()},
	}
}
