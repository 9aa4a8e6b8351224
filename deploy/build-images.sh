#!/usr/bin/env bash
# Builds ALO's images without a registry: static linux binaries compiled on
# this host are copied into FROM-scratch images (deploy/Dockerfile.prebuilt).
# `make images` runs it; deploy/test-compose.sh too, with its own tag and with
# --nats-standin.
#
#   deploy/build-images.sh [--nats-standin IMAGE]
#
# Environment: ALO_TAG (image tag, default latest), ALO_VERSION, ALO_COMMIT
# (stamped into the binaries and the image labels), DOCKER (default docker),
# ALO_BIN_DIR (take static linux gateway and presence binaries from there
# instead of compiling them).
#
# --nats-standin IMAGE also builds IMAGE, a stand-in for the official NATS
# image made the same way: nats-server from the github.com/nats-io/nats-server/v2
# module that go.mod pins, plus busybox's wget (from Debian's busybox-static
# package) for the healthcheck that docker-compose.yml runs in nats:*-alpine.
set -euo pipefail

cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-docker}
TAG=${ALO_TAG:-latest}
VERSION=${ALO_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${ALO_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STANDIN=
while [ $# -gt 0 ]; do
	case $1 in
	--nats-standin) STANDIN=$2; shift 2 ;;
	*) echo "build-images: unknown argument $1" >&2; exit 2 ;;
	esac
done

# quiet runs a command, showing its output only if it fails (docker build's
# is noise otherwise, like the CLI's notice about the legacy builder).
quiet() {
	local log
	log=$(mktemp)
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "build-images: failed: $*" >&2
		return 1
	fi
	rm -f "$log"
}

# Build for the engine's architecture, whatever this host is.
ARCH=$($DOCKER version --format '{{.Server.Arch}}')
CTX=deploy/.build/context
rm -rf "$CTX" && mkdir -p "$CTX"

if [ -n "${ALO_BIN_DIR:-}" ]; then
	# Binaries built elsewhere (static, linux/$ARCH).
	echo "build-images: gateway presence from $ALO_BIN_DIR"
	cp "$ALO_BIN_DIR/gateway" "$ALO_BIN_DIR/presence" "$CTX/"
else
	echo "build-images: go build gateway presence (linux/$ARCH, version $VERSION, commit $COMMIT)"
	CGO_ENABLED=0 GOOS=linux GOARCH=$ARCH go build -trimpath \
		-ldflags "-s -w -X github.com/alo-presence/alo/shared.Version=$VERSION -X github.com/alo-presence/alo/shared.Commit=$COMMIT" \
		-o "$CTX/" ./cmd/gateway ./cmd/presence
fi

for svc in gateway presence; do
	quiet "$DOCKER" build -f deploy/Dockerfile.prebuilt --target "$svc" \
		--build-arg VERSION="$VERSION" --build-arg COMMIT="$COMMIT" --build-arg BUILD_DATE="$BUILD_DATE" \
		-t "alo-$svc:$TAG" "$CTX"
	echo "build-images: alo-$svc:$TAG $($DOCKER image inspect -f '{{.Size}}' "alo-$svc:$TAG" | awk '{printf "%.1f MB", $1/1e6}')"
done

if [ -n "$STANDIN" ]; then
	NCTX=deploy/.build/nats
	rm -rf "$NCTX" && mkdir -p "$NCTX/rootfs/usr/local/bin" "$NCTX/deb"
	echo "build-images: go build nats-server $(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2) (stand-in for the official image)"
	CGO_ENABLED=0 GOOS=linux GOARCH=$ARCH go build -trimpath -ldflags "-s -w" \
		-o "$NCTX/rootfs/usr/local/bin/nats-server" github.com/nats-io/nats-server/v2
	# busybox dispatches on its name: installed as wget, it is wget.
	debarch=$(dpkg --print-architecture 2>/dev/null || echo none)
	if [ "$debarch" != "$ARCH" ]; then
		echo "build-images: the stand-in needs Debian's busybox-static for $ARCH; set ALO_TEST_NATS_IMAGE to a real NATS alpine image instead" >&2
		exit 1
	fi
	chmod 777 "$NCTX/deb" # apt-get download runs as _apt where it can
	if ! (cd "$NCTX/deb" && apt-get download -q busybox-static >/dev/null 2>&1); then
		apt-get update -qq
		(cd "$NCTX/deb" && apt-get download -q busybox-static >/dev/null)
	fi
	dpkg-deb -x "$NCTX"/deb/busybox-static_*.deb "$NCTX/deb/x"
	cp "$NCTX/deb/x/bin/busybox" "$NCTX/rootfs/usr/local/bin/wget"
	cat >"$NCTX/Dockerfile" <<-'EOF'
		# Test-only stand-in for nats:*-alpine: same binary path, no entrypoint script.
		FROM scratch
		COPY rootfs/ /
		ENV PATH=/usr/local/bin
		EXPOSE 4222 6222 8222
		CMD ["nats-server"]
	EOF
	quiet "$DOCKER" build -t "$STANDIN" "$NCTX"
	echo "build-images: $STANDIN $($DOCKER image inspect -f '{{.Size}}' "$STANDIN" | awk '{printf "%.1f MB", $1/1e6}')"
fi
