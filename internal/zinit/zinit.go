// Package zinit is the node image's init (cmd/zosinit), modelled on 0-OS's zinit: as
// PID 1 it mounts the basics, loads kernel modules (dependency order from each .ko's
// depends=; coldplug by modalias; on-demand through /sbin/modprobe, which is the same
// binary), writes the sysctls, mounts (and on first boot formats) the state disk, and
// supervises the node's services in order — netinit (one-shot: the next service waits
// for its exit 0), networkd, provisiond — restarting any that exits, with every line
// of their output on the console and in <state>/log/<service>.log. It also reaps
// orphans and serves the guest agent on a virtio-serial port when there is one
// (package guestagent), which is how zoslab execs commands in VM nodes.
//
// This file is the pure part: the init's own kernel command line parameters, the
// service plan derived from them, and the restart backoff.
package zinit

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/cmdline"
)

// Kernel command line parameters of the init (the daemons read their own: farmer_id=,
// zosnet.registry=, ...; unknown parameters are ignored by everyone).
const (
	// ParamName is zosnet.name=NAME: the node's host name and ZOSNET_NODE (default: the
	// name kept in the state directory, else "zos-" and the first physical NIC's MAC; see
	// ResolveName).
	ParamName = "zosnet.name"
	// ParamWireGuard is zosnet.wireguard=auto|kernel|userspace, passed to networkd.
	ParamWireGuard = "zosnet.wireguard"
	// ParamState is zosnet.state=auto|ram|DEVICE: where the state directory lives.
	// auto (default): a disk labelled zosnet-state, else the first blank disk, which is
	// formatted; ram: tmpfs (nothing survives a reboot); DEVICE: that block device
	// (e.g. vdb), formatted only when blank.
	ParamState = "zosnet.state"
	// ParamServices is zosnet.services=a,b,c: the services to run (default all); "none"
	// runs none (a node for debugging, or a lab VM that must stay idle).
	ParamServices = "zosnet.services"
)

// Config is what the init takes from the kernel command line.
type Config struct {
	Name      string
	WireGuard string
	State     string
	Services  []string
}

// ParseConfig reads the init's parameters. A bad value is an error naming the parameter
// and the reason; that parameter keeps its default and the others still apply (the init
// logs the error and boots).
func ParseConfig(line string) (Config, error) {
	c := Config{State: "auto", Services: append([]string{}, AllServices...)}
	var errs []error
	for _, f := range cmdline.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		var err error
		switch k {
		case ParamName:
			if err = validName(v); err == nil {
				c.Name = v
			}
		case ParamWireGuard:
			if v != "auto" && v != "kernel" && v != "userspace" {
				err = errors.New("want auto, kernel or userspace")
			} else {
				c.WireGuard = v
			}
		case ParamState:
			if v == "" || strings.ContainsAny(v, "/ ") && !strings.HasPrefix(v, "/dev/") || strings.Contains(v, "..") {
				err = errors.New("want auto, ram or a block device name")
			} else {
				c.State = strings.TrimPrefix(v, "/dev/")
			}
		case ParamServices:
			var s []string
			if s, err = parseServices(v); err == nil {
				c.Services = s
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", k, v, err))
		}
	}
	return c, errors.Join(errs...)
}

func validName(v string) error {
	if v == "" || len(v) > 63 {
		return fmt.Errorf("a host name is 1 to 63 characters")
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("only letters, digits and '-'")
		}
	}
	return nil
}

func parseServices(v string) ([]string, error) {
	if v == "none" {
		return []string{}, nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		ok := false
		for _, a := range AllServices {
			ok = ok || a == s
		}
		if !ok {
			return nil, fmt.Errorf("unknown service %q (known: %s, or none)", s, strings.Join(AllServices, ","))
		}
		out = append(out, s)
	}
	return out, nil
}

// AllServices are the node's services in start order.
var AllServices = []string{"netinit", "networkd", "provisiond"}

// Service is one supervised program.
type Service struct {
	Name string
	Argv []string
	Env  []string
	// OneShot services run until they exit 0; the next service starts only then. A
	// one-shot that fails is run again after the backoff.
	OneShot bool
	// ReadyFile, when set, is a path whose existence tells the supervisor the service
	// is ready; the next service waits for it (at most ReadyTimeout).
	ReadyFile string
}

// ReadyTimeout bounds how long the next service waits for a ReadyFile.
const ReadyTimeout = 30 * time.Second

// Plan returns the services to supervise, in order: the binaries in binDir, the state
// directory in the environment, networkd told the WireGuard implementation when the
// command line names one.
func Plan(c Config, binDir, stateDir string) []Service {
	env := []string{"ZOSNET_NODE=" + c.Name, "ZOSNET_STATE_DIR=" + stateDir, "PATH=/bin:/sbin:/usr/bin:/usr/sbin"}
	var out []Service
	for _, name := range c.Services {
		s := Service{Name: name, Argv: []string{binDir + "/" + name}, Env: env}
		switch name {
		case "netinit":
			s.OneShot = true
		case "networkd":
			if c.WireGuard != "" {
				s.Argv = append(s.Argv, "--wireguard", c.WireGuard)
			}
			s.ReadyFile = "/run/zosnet/networkd.sock"
		}
		out = append(out, s)
	}
	return out
}

// Backoff is the delay before restarting a service that exited after running for ran,
// following the previous delay prev: 1 s doubling to 30 s; a run of a minute or more
// resets it.
func Backoff(prev, ran time.Duration) time.Duration {
	switch {
	case ran >= time.Minute || prev == 0:
		return time.Second
	case prev >= 15*time.Second:
		return 30 * time.Second
	}
	return 2 * prev
}
