package wgquick

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// maxLine bounds one line of a config file.
const maxLine = 64 << 10

// Parse reads a wg-quick file: the keys Render writes (case-insensitive, as wg-quick
// reads them), comments from '#' to the end of a line, blank lines. Other keys
// (PostUp, DNS, Table, ...) are an error, since zosnet never writes them. The result is
// validated like Render's input. Errors wrap ErrSyntax and give the line number.
func Parse(r io.Reader) (Config, error) {
	var c Config
	section := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case strings.EqualFold(line, "[Interface]"):
			section = "interface"
			continue
		case strings.EqualFold(line, "[Peer]"):
			section = "peer"
			c.Peers = append(c.Peers, Peer{})
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return Config{}, fmt.Errorf("%w: line %d: want [Section] or Key = Value", ErrSyntax, n)
		}
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		if err := c.set(section, key, val); err != nil {
			return Config{}, fmt.Errorf("%w: line %d: %s: %v", ErrSyntax, n, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return c, nil
}

func (c *Config) set(section, key, val string) error {
	switch section {
	case "interface":
		return c.Interface.set(key, val)
	case "peer":
		return c.Peers[len(c.Peers)-1].set(key, val)
	}
	return fmt.Errorf("outside of a section")
}

func (it *Interface) set(key, val string) (err error) {
	switch key {
	case "privatekey":
		it.PrivateKey = val
	case "address":
		it.Address, err = parseList(val, true)
	case "listenport":
		it.ListenPort, err = strconv.Atoi(val)
	case "mtu":
		it.MTU, err = strconv.Atoi(val)
	default:
		err = fmt.Errorf("unknown key in [Interface]")
	}
	return err
}

func (p *Peer) set(key, val string) (err error) {
	switch key {
	case "publickey":
		p.PublicKey = val
	case "endpoint":
		p.Endpoint, err = netip.ParseAddrPort(val)
	case "allowedips":
		p.AllowedIPs, err = parseList(val, false)
	case "persistentkeepalive":
		if val == "off" {
			p.PersistentKeepalive = 0
			return nil
		}
		p.PersistentKeepalive, err = strconv.Atoi(val)
	default:
		err = fmt.Errorf("unknown key in [Peer]")
	}
	return err
}

// parseList parses "a/b, c/d"; with host set, the addresses keep their host bits
// (Address = 10.1.255.10/32); otherwise prefixes must be masked (AllowedIPs).
func parseList(val string, host bool) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(val, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if !host && p.Masked() != p {
			return nil, fmt.Errorf("%s has host bits set", p)
		}
		out = append(out, p)
	}
	return out, nil
}
