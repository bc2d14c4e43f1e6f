package link

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/zosnet/zosnet/internal/netns"
)

// Sysctls are kernel parameters to write: the key is the path under /proc/sys with
// slashes ("net/ipv4/ip_forward"; slashes keep interface names with dots whole), the
// value what to write. Every parameter relied on is written, 0 as well as 1: a new
// namespace copies some IPv4 settings from the host and resets IPv6 to defaults.
type Sysctls map[string]string

// IPv6 returns IPv6 parameters of interface iface ("all" and "default" too), given by
// name: IPv6("br-pub", Sysctls{"accept_ra": "2"}) is net/ipv6/conf/br-pub/accept_ra=2.
func IPv6(iface string, params Sysctls) Sysctls {
	out := make(Sysctls, len(params))
	for k, v := range params {
		out["net/ipv6/conf/"+iface+"/"+k] = v
	}
	return out
}

// With returns a new set of s's parameters and more's (more wins on the same key).
func (s Sysctls) With(more Sysctls) Sysctls {
	out := make(Sysctls, len(s)+len(more))
	maps.Copy(out, s)
	maps.Copy(out, more)
	return out
}

// bridgeNF is where br_netfilter's parameters live; they exist only while the module
// is loaded, and without it there is nothing to turn off.
const bridgeNF = "net/bridge/"

// Set writes kv in ns (nil: the calling thread's namespace), in key order so runs are
// reproducible. Keys under net/bridge/ that do not exist are skipped. It stops at the
// first failure, naming the parameter in sysctl(8)'s dotted form.
func Set(ns *netns.NS, kv Sysctls) error {
	if ns == nil {
		return write(kv)
	}
	return ns.Do(func() error { return write(kv) })
}

func write(kv Sysctls) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		err := os.WriteFile("/proc/sys/"+k, []byte(kv[k]), 0o644)
		if err != nil && !(errors.Is(err, os.ErrNotExist) && strings.HasPrefix(k, bridgeNF)) {
			return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(k, "/", "."), kv[k], err)
		}
	}
	return nil
}

// NoBridgeNetfilter keeps bridged frames out of the ip, ip6 and arp hooks (and their
// conntrack) of the namespace it is written in, when br_netfilter is loaded.
func NoBridgeNetfilter() Sysctls {
	return Sysctls{
		bridgeNF + "bridge-nf-call-iptables":  "0",
		bridgeNF + "bridge-nf-call-ip6tables": "0",
		bridgeNF + "bridge-nf-call-arptables": "0",
	}
}
