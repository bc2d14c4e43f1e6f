// Package nft is zosnet's one home for nftables rule building: expression fragments
// (interface names, conntrack state, ports, address prefixes, verdicts), rulesets as
// pure data (Table, Chain, Rule), a renderer that prints a Table the way
// `nft list table` does, and Apply, which makes the kernel hold exactly the tables
// given in one atomic batch.
//
// Policies (which rules) live with their owners — firewall, resource, lab — as pure
// functions that return a *Table; their golden tests diff Render's output with a file,
// and their root tests diff the kernel's `nft list table` with the same file, so the
// renderer is checked against the kernel too.
//
// Apply is idempotent (an existing table is added, deleted, added again and filled in
// one netlink batch, which the kernel commits atomically; a missing one is created
// exclusively, so a concurrent creation fails the batch, which is then retried as a
// replace) and touches only the tables it is given. Functions keep no state and are safe
// for concurrent use; concurrent applies of the same table end with one of them in place.
package nft
