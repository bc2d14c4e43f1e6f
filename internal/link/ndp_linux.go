package link

import (
	"net"
	"strconv"

	"github.com/mdlayher/ndp"
)

// ListenNDP opens an ICMPv6 (NDP) socket on ifi bound to the address addr picks; call
// it inside the namespace ifi lives in (netns.NS.Do). ndp names the interface as the
// zone of every address it sends to, and Go resolves a zone's name in whatever
// namespace the sending thread is in at that moment: an interface whose name is also
// another interface's in the sender's namespace (an NR's leg is named after the host's
// bridge) would resolve to that one's index there (sendmsg: EINVAL), and a name known
// in no namespace the thread visits would not resolve at all. The index, as the name,
// resolves as itself everywhere.
func ListenNDP(ifi *net.Interface, addr ndp.Addr) (*ndp.Conn, error) {
	byIndex := *ifi
	byIndex.Name = strconv.Itoa(ifi.Index)
	c, _, err := ndp.Listen(&byIndex, addr)
	return c, err
}
