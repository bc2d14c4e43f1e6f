package cli

// rootCommands lists the top-level command groups. Each group's commands live in their
// own file; the "node" group is shared by the local networkd API (node_local.go) and the
// registry (node_grid.go).
func rootCommands() []*Command {
	return []*Command{
		{Name: "node", Summary: "this node (local networkd API) and the grid's nodes (registry)",
			Sub: append(append(nodeLocalCommands(), nodeUplinkCommands()...), nodeGridCommands()...)},
	}
}
