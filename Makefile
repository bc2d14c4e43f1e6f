# zosnet — the two commands a newcomer needs are `make demo` and `make test` (as root).
GO        ?= go
BIN       := bin
# Root tests compare machine-wide state (namespaces, links, mounts), so test binaries run
# one package at a time.
TESTFLAGS ?= -race -count=1 -p 1 -timeout 15m

.PHONY: all deps build image packages docs demo test fmt-check vet staticcheck cross unit clean

all: build

# Debian packages (dnsmasq, radvd, nftables, wireguard-tools, postgresql, ...) and Go modules.
deps:
	scripts/install-deps.sh

# pebble (Let's Encrypt's test ACME CA) is built from its Go module for the lab's CA.
build:
	$(GO) build -o $(BIN)/ ./cmd/... github.com/letsencrypt/pebble/v2/cmd/pebble

# The node image (issue 16): bin/image/{vmlinuz,initrd.img,zosnet.img}, built from the
# Debian kernel package that scripts/install-deps.sh downloads (internal/image).
image: deps
	$(GO) run ./cmd/mkimage --build --out $(BIN)/image

# Packages (issue 16): zosnet-registry .deb and the CLI for its four platforms in
# bin/pkg/ (internal/packaging, nfpm as a library).
packages:
	$(GO) run ./cmd/mkpkg --out $(BIN)/pkg

# The generated references (docs/cli.md from the command tree, docs/api.md from
# openapi.yaml); internal/refdoc's tests fail when the checked-in copies are stale.
docs:
	$(GO) generate ./...

demo: deps build
	./$(BIN)/zoslab demo

test: deps fmt-check vet staticcheck cross unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

# The user's CLI must build wherever users are (the node subcommands need a node).
CROSS := linux/amd64 linux/arm64 darwin/arm64 windows/amd64
cross:
	@set -e; for p in $(CROSS); do \
		echo "cross: zosnet for $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/zosnet; \
	done

# The suite holds the machine-wide test lock (internal/testkit) for its whole run, so
# another suite on a shared machine waits instead of seeing this one's objects.
TESTLOCK := /run/lock/zosnet-tests.lock
# The patched wireguard-go's own tests (third_party/wireguard-go/ZOSNET.md), built
# with zosnet's module versions.
PATCHED := golang.zx2c4.com/wireguard/device golang.zx2c4.com/wireguard/tun
unit:
	@if [ -w /run/lock ] && command -v flock >/dev/null; then \
		flock -n $(TESTLOCK) true || echo "unit: waiting for another test suite (pid $$(cat $(TESTLOCK)))"; \
		flock -o $(TESTLOCK) sh -c 'echo $$PPID > $(TESTLOCK); ZOSNET_TEST_LOCK=held exec $(GO) test $(TESTFLAGS) ./... $(PATCHED)'; \
	else $(GO) test $(TESTFLAGS) ./... $(PATCHED); fi

clean:
	rm -rf $(BIN)
