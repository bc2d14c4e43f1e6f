package lab

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmpSetLink sets a VM NIC's link state through qemu's monitor (QMP set_link): the
// guest's driver sees carrier come and go, as when a cable is pulled.
func qmpSetLink(sock, netdev string, up bool) error {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return fmt.Errorf("qmp: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	read := func() error { // skips events; returns the command's answer
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return err
			}
			var m struct {
				Return *json.RawMessage `json:"return"`
				Error  *struct {
					Desc string `json:"desc"`
				} `json:"error"`
				QMP *json.RawMessage `json:"QMP"`
			}
			if json.Unmarshal(line, &m) != nil {
				continue
			}
			switch {
			case m.Error != nil:
				return fmt.Errorf("qmp: %s", m.Error.Desc)
			case m.Return != nil || m.QMP != nil:
				return nil
			}
		}
	}
	if err := read(); err != nil { // greeting
		return fmt.Errorf("qmp greeting: %w", err)
	}
	for _, cmd := range []any{
		map[string]string{"execute": "qmp_capabilities"},
		map[string]any{"execute": "set_link", "arguments": map[string]any{"name": netdev, "up": up}},
	} {
		b, _ := json.Marshal(cmd)
		if _, err := c.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("qmp: %w", err)
		}
		if err := read(); err != nil {
			return err
		}
	}
	return nil
}
