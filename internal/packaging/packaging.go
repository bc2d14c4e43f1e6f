// Package packaging builds zosnet's installable packages with nfpm (as a Go library, no
// external packaging tool): the registry as a Debian package with a systemd unit, a
// system user, a default SQLite database under /var/lib/zosnet-registry and PostgreSQL
// by configuration (/etc/default/zosnet-registry); the CLI as a Debian package for
// linux/amd64 and linux/arm64 and as archives for darwin/arm64 (.tar.gz) and
// windows/amd64 (.zip).
//
// This file is the pure part: what goes into each package (contents, unit, scripts).
package packaging

import (
	"fmt"
	"path"
	"strings"
)

// Names and paths of the registry package.
const (
	RegistryPackage = "zosnet-registry"
	RegistryBinary  = "/usr/bin/zosnet-registry"
	RegistryUnit    = "/lib/systemd/system/zosnet-registry.service"
	RegistryDefault = "/etc/default/zosnet-registry"
	RegistryUser    = "zosnet-registry"
	RegistryState   = "/var/lib/zosnet-registry"
	CLIPackage      = "zosnet"
	CLIBinary       = "/usr/bin/zosnet"
)

// UnitFile is the registry's systemd unit. The registry reads ZOSNET_DB, ZOSNET_LISTEN
// and ZOSNET_STATE_DIR itself (database grid.db and tls/server.{crt,key} there by
// default); extra flags come from ZOSNET_REGISTRY_ARGS.
const UnitFile = `[Unit]
Description=zosnet grid registry
Documentation=man:zosnet-registry(1) https://github.com/zosnet/zosnet
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
Type=simple
User=` + RegistryUser + `
Group=` + RegistryUser + `
Environment=ZOSNET_STATE_DIR=` + RegistryState + `
EnvironmentFile=-` + RegistryDefault + `
ExecStart=` + RegistryBinary + ` $ZOSNET_REGISTRY_ARGS
StateDirectory=zosnet-registry
StateDirectoryMode=0750
Restart=on-failure
RestartSec=2s
AmbientCapabilities=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ReadWritePaths=` + RegistryState + `

[Install]
WantedBy=multi-user.target
`

// DefaultFile is /etc/default/zosnet-registry (a conffile: the admin's edits survive
// upgrades).
const DefaultFile = `# Settings of zosnet-registry.service (systemctl restart zosnet-registry after a change).
#
# Database: a SQLite file (default ` + RegistryState + `/grid.db), or PostgreSQL, which
# several registry instances can share:
#ZOSNET_DB=postgres://zosnet:SECRET@localhost/zosnet?sslmode=disable
#
# Address to listen on (default :8443).
#ZOSNET_LISTEN=:8443
#
# TLS: ` + RegistryState + `/tls/server.crt and server.key are used when present (the
# package makes a CA and a certificate for 127.0.0.1, localhost and the host name at
# install; clients trust ` + RegistryState + `/ca/ca.crt). Other files, or extra flags:
#ZOSNET_REGISTRY_ARGS=--tls-cert /etc/ssl/zosnet/server.crt --tls-key /etc/ssl/zosnet/server.key
ZOSNET_REGISTRY_ARGS=
`

// CertHosts are the names the install-time certificate is for (plus the host name).
const CertHosts = "127.0.0.1,::1,localhost"

// PostInstall creates the system user, the state directory and (once) a CA and TLS
// certificate, then enables and starts the service where systemd runs.
const PostInstall = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd ` + RegistryUser + ` >/dev/null; then
    useradd --system --user-group --home-dir ` + RegistryState + ` --no-create-home --shell /usr/sbin/nologin ` + RegistryUser + `
  fi
  install -d -o ` + RegistryUser + ` -g ` + RegistryUser + ` -m 0750 ` + RegistryState + `
  if [ ! -e ` + RegistryState + `/tls/server.crt ]; then
    h=$(hostname 2>/dev/null || echo localhost)
    [ -e ` + RegistryState + `/ca/ca.key ] || ` + RegistryBinary + ` ca init --dir ` + RegistryState + `/ca --name "zosnet registry CA ($h)"
    ` + RegistryBinary + ` ca issue --dir ` + RegistryState + `/ca --host "` + CertHosts + `,$h" --out ` + RegistryState + `/tls/server
    chown -R ` + RegistryUser + `:` + RegistryUser + ` ` + RegistryState + `
    echo "zosnet-registry: TLS certificate for ` + CertHosts + `,$h made; clients trust ` + RegistryState + `/ca/ca.crt"
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
    systemctl enable zosnet-registry.service >/dev/null || true
    systemctl restart zosnet-registry.service || echo "zosnet-registry: not started; see journalctl -u zosnet-registry"
  fi
fi
`

// PreRemove stops the service; PostRemove (purge) removes the state and the user.
const PreRemove = `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl stop zosnet-registry.service >/dev/null 2>&1 || true
  [ "$1" = remove ] && systemctl disable zosnet-registry.service >/dev/null 2>&1 || true
fi
`

// PostRemove removes the database, keys and the user on purge only.
const PostRemove = `#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf ` + RegistryState + `
  getent passwd ` + RegistryUser + ` >/dev/null && userdel ` + RegistryUser + ` || true
fi
[ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
`

// Target is a platform the CLI (and, on linux, the registry) is built for.
type Target struct{ OS, Arch string }

func (t Target) String() string { return t.OS + "/" + t.Arch }

// CLITargets are the platforms the CLI is built for.
var CLITargets = []Target{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "arm64"}, {"windows", "amd64"}}

// RegistryTargets are the platforms the registry package is built for.
var RegistryTargets = []Target{{"linux", "amd64"}, {"linux", "arm64"}}

// ArtifactName is the file name of a package or archive.
func ArtifactName(pkg, version string, t Target) string {
	v := strings.TrimPrefix(version, "v")
	switch t.OS {
	case "linux":
		return fmt.Sprintf("%s_%s_%s.deb", pkg, v, t.Arch)
	case "windows":
		return fmt.Sprintf("%s_%s_%s_%s.zip", pkg, v, t.OS, t.Arch)
	}
	return fmt.Sprintf("%s_%s_%s_%s.tar.gz", pkg, v, t.OS, t.Arch)
}

// ParseUnit reads the [Service] section of a systemd unit: each key's values in order
// (Environment= may repeat). Continuation lines and comments are handled; other
// sections are ignored.
func ParseUnit(text string) map[string][]string {
	out := map[string][]string{}
	section := ""
	var lines []string
	cur := ""
	for _, l := range strings.Split(text, "\n") {
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[':
			section = strings.Trim(l, "[]")
		case section == "Service":
			k, v, ok := strings.Cut(l, "=")
			if ok {
				out[strings.TrimSpace(k)] = append(out[strings.TrimSpace(k)], strings.TrimSpace(v))
			}
		}
	}
	return out
}

// ExpandExec expands an ExecStart= line as systemd does for the common forms: $VAR
// becomes the variable's words, ${VAR} one word; a leading path is the program.
func ExpandExec(line string, env map[string]string) []string {
	var out []string
	for _, w := range strings.Fields(line) {
		switch {
		case strings.HasPrefix(w, "${") && strings.HasSuffix(w, "}"):
			out = append(out, env[w[2:len(w)-1]])
		case strings.HasPrefix(w, "$"):
			out = append(out, strings.Fields(env[w[1:]])...)
		default:
			out = append(out, w)
		}
	}
	return out
}

// ParseEnvFile reads KEY=VALUE lines (comments and blank lines skipped; quotes removed).
func ParseEnvFile(text string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok {
			out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return out
}

// binName is the program's file name on a target.
func binName(name string, t Target) string {
	if t.OS == "windows" {
		return name + ".exe"
	}
	return path.Base(name)
}
