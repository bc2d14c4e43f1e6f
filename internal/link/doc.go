// Package link is zosnet's one home for link plumbing: netlink handles opened inside a
// namespace, idempotent ensure and delete of links, repair of half-made veth pairs,
// addresses, and the sysctls the daemons and the lab write.
//
// Every ensure is idempotent (an existing object of the right kind is success, and is
// re-fetched so the caller sees fresh attributes); every delete treats "not found" as
// success, so garbage collection and retries never fail on what is already gone.
// Functions take the netlink handle or the namespace explicitly and keep no state: they
// are safe for concurrent use on different objects. Sysctls are written with the
// calling thread inside the namespace (netns.NS.Do), the only way the kernel offers.
package link
