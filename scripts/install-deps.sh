#!/usr/bin/env bash
# Installs the Debian packages zosnet needs (as root, Debian 12), unless all are there
# already, and downloads the Go modules. Used by `make demo`, `make test` and .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(iproute2 nftables dnsmasq-base radvd wireguard-tools wireguard-go iperf3 iputils-ping
      postgresql util-linux procps ca-certificates make)
# retry CMD...: the package mirror and the module proxy sometimes answer with a transient error.
retry() { local i; for i in 1 2 3 4 5; do "$@" && return 0; echo "retry $i: $*" >&2; sleep $((i * 3)); done; return 1; }
if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages; run as root: apt-get install --no-install-recommends ${pkgs[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${pkgs[*]}"
  retry apt-get update -qq
  retry apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
retry go mod download
