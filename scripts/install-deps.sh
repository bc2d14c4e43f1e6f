#!/usr/bin/env bash
# Installs the Debian packages zosnet needs (as root, Debian 12), unless all are there
# already, and downloads the Go modules. Used by `make demo`, `make test` and .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(iproute2 nftables dnsmasq-base radvd wireguard-tools wireguard-go iperf3 iputils-ping
      postgresql util-linux procps ca-certificates make
      qemu-system-x86 ovmf busybox-static    # the node image and vm nodes (make image, kind: vm)
      chromium)                              # the web pages' browser tests (chromedp, headless)
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
# The node image (make image, VM nodes in the lab) is built from Debian's kernel and
# systemd-boot packages, downloaded (never installed) into the cache the build reads.
cache=/var/cache/zosnet
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$cache"
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  for p in "$kpkg" systemd-boot-efi; do
    if [ -n "$p" ] && ! ls "$cache/${p}"_*.deb >/dev/null 2>&1; then
      echo "downloading $p into $cache"
      (cd "$cache" && retry apt-get download -q "$p" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
      ls "$cache/${p}"_*.deb >/dev/null
    fi
  done
fi
retry go mod download
