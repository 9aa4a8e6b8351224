#!/usr/bin/env bash
# The proof that ALO runs as a real deployment: `make test-compose`, run by
# .ci/run after the unit tests.
#
#  1. A Docker engine: if there is none, installs Debian's docker.io and
#     docker-compose (as root) and starts dockerd in the background, stopping it
#     again at the end.
#  2. Images with no registry: gateway and presence from binaries compiled
#     here (deploy/build-images.sh), and a stand-in for the official NATS image
#     built the same way from the nats-server module go.mod pins (or the image
#     named by ALO_TEST_NATS_IMAGE, e.g. nats:2.15-alpine, if you have it).
#  3. Checks the images: non-root, no shell, version stamped, and that the
#     runtime stages of deploy/Dockerfile and deploy/Dockerfile.prebuilt agree.
#  4. Brings docker-compose.yml up with 3 gateways under its own project name
#     and ports (127.0.0.1:28080-28089 for clients, 28180-28189 for the
#     gateways' HTTP, NATS monitoring on 127.0.0.1:28222),
#     then deploy/composecheck connects clients to each gateway through its
#     published port and checks, with deadlines: health endpoints, friends
#     seeing each other across gateways, the users of the gateways stopped by
#     scaling down to 1 reported {"user_id":N,"online":false} to their friends
#     within 2 s, and a gateway added by scaling up again serving the same state.
#     With -nats and -secrets it also proves the bus's authorization from
#     outside (NATS's client port on 127.0.0.1:24222): a client without
#     credentials and a wrong password are refused, every gateway logged in
#     as gw-<its replica number>, and the gateway's, backend's and
#     observer's credentials cannot read the bus, publish a state message,
#     another gateway's events or a control message (permissions
#     violations asserted); a push arrives wrapped, an oversized one is
#     dropped, nobody is cut off.
#     Client identity (issue 10): gateways on --auth jwt and TLS, clients log in with tokens over TLS,
#     and a hello without a token is refused.
#  5. Tears the stack down and checks no container, network or volume is left.
#
# It prints every check, the stack's logs if one fails, and ends with
# "test-compose: N passed, M failed"; it exits non-zero on any failure.
#
# The NATS passwords are made for each run (deploy/natssecrets) into
# deploy/.build/test-compose/secrets.
#
# Environment: ALO_TEST_NATS_IMAGE (see 2), ALO_TEST_GATEWAY_PORTS (28080-28089),
# ALO_TEST_NATS_PORT (24222),
# ALO_TEST_GATEWAY_HTTP_PORTS (28180-28189), ALO_TEST_MONITOR_PORT (28222),
# ALO_KEEP_DOCKERD=1 (leave a dockerd this script started running),
# ALO_TEST_VERBOSE=1 (print every client message).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/deploy/.build/test-compose
mkdir -p "$OUT"
PROJECT=alo-composetest
TAG=composetest
NATS_IMAGE=${ALO_TEST_NATS_IMAGE:-alo-composetest/nats:local}
BUILD_STANDIN=$([ -z "${ALO_TEST_NATS_IMAGE:-}" ] && echo yes || echo no)
GATEWAY_PORTS=${ALO_TEST_GATEWAY_PORTS:-28080-28089}
GATEWAY_HTTP_PORTS=${ALO_TEST_GATEWAY_HTTP_PORTS:-28180-28189}
MONITOR_PORT=${ALO_TEST_MONITOR_PORT:-28222}
NATS_PORT=${ALO_TEST_NATS_PORT:-24222}
SECRETS=$OUT/secrets
PASS=0
FAIL=0
DOCKERD_PID=
STACK_UP=no

say() { echo "test-compose: $*"; }
ok() { PASS=$((PASS + 1)); echo "  ok    $*"; }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL  $*"; }
die() {
	bad "$*"
	exit 1
}
step() { echo "== $*"; }

# ---- 1. engine ----

apt_install() {
	[ "$(id -u)" = 0 ] || die "no Docker engine here and not root: install docker.io and docker-compose (Debian) or Docker Engine"
	command -v apt-get >/dev/null || die "no Docker engine here and no apt-get: install Docker Engine"
	say "installing $* with apt-get"
	local i
	for i in $(seq 1 30); do # another apt may hold the lists lock for a while
		apt-get update -qq >"$OUT/apt.log" 2>&1 && break
		[ "$i" = 30 ] && { cat "$OUT/apt.log"; die "apt-get update failed"; }
		sleep 10
	done
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "$@" >>"$OUT/apt.log" 2>&1 ||
		{ tail -30 "$OUT/apt.log"; die "apt-get install $* failed"; }
}

start_dockerd() { # args: extra dockerd options
	[ "$(id -u)" = 0 ] || die "dockerd is not running and only root can start it"
	say "starting dockerd${*:+ $*} (log: $OUT/dockerd.log)"
	setsid dockerd "$@" >"$OUT/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	local i
	for i in $(seq 1 60); do
		docker info >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 1
	done
	tail -20 "$OUT/dockerd.log"
	stop_dockerd
	return 1
}

stop_dockerd() {
	[ -n "$DOCKERD_PID" ] || return 0
	kill -TERM "$DOCKERD_PID" 2>/dev/null || true
	local i
	for i in $(seq 1 30); do
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 1
	done
	DOCKERD_PID=
}

ensure_engine() {
	step "Docker engine"
	if ! docker info >/dev/null 2>&1; then
		if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
			apt_install docker.io docker-compose
		fi
		if ! docker info >/dev/null 2>&1; then
			# No systemd on CI machines: run the daemon ourselves. If the
			# defaults fail (no overlayfs or iptables), try without them.
			start_dockerd ||
				start_dockerd --storage-driver=vfs --iptables=false --ip6tables=false ||
				die "dockerd does not start here; see $OUT/dockerd.log"
		fi
	fi
	if docker compose version >/dev/null 2>&1; then
		COMPOSE_CMD="docker compose"
	else
		command -v docker-compose >/dev/null || apt_install docker-compose
		COMPOSE_CMD=docker-compose
	fi
	ok "engine $(docker version --format '{{.Server.Version}}') ($(docker info --format '{{.Driver}}') storage), $($COMPOSE_CMD version --short 2>/dev/null || $COMPOSE_CMD version | head -1) as '$COMPOSE_CMD'"
}

# ---- the stack ----

export ALO_TAG=$TAG ALO_NATS_IMAGE=$NATS_IMAGE ALO_BIND=127.0.0.1
export ALO_GATEWAY_PORTS=$GATEWAY_PORTS ALO_GATEWAY_HTTP_PORTS=$GATEWAY_HTTP_PORTS ALO_NATS_MONITOR_PORT=$MONITOR_PORT
export ALO_NATS_PORT=$NATS_PORT ALO_SECRETS=$SECRETS
export ALO_LOG_LEVEL=debug ALO_LOG_FORMAT=json
export ALO_VERSION=${ALO_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
export ALO_COMMIT=${ALO_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}

COMPOSE_FILES=(-f "$ROOT/docker-compose.yml")
compose() { $COMPOSE_CMD -p "$PROJECT" "${COMPOSE_FILES[@]}" "$@"; }

leftovers() { # prints what the project left: containers, networks, volumes
	docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
	docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
	docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"
}

teardown() {
	compose down -v --remove-orphans --timeout 10 >"$OUT/down.log" 2>&1 || cat "$OUT/down.log"
	STACK_UP=no
}

dump_logs() {
	echo "---- $PROJECT: docker ps ----"
	docker ps -a --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}\t{{.Status}}\t{{.Ports}}' || true
	echo "---- $PROJECT: last logs ----"
	compose logs --no-color --tail=80 2>&1 || true
	echo "---- end of logs ----"
}

on_exit() {
	local rc=$?
	if [ "$STACK_UP" = yes ]; then
		[ "$rc" = 0 ] || dump_logs
		teardown
	fi
	if [ -n "$DOCKERD_PID" ] && [ "${ALO_KEEP_DOCKERD:-}" != 1 ]; then
		say "stopping the dockerd it started"
		stop_dockerd
	fi
	if [ "$rc" != 0 ] && [ "$FAIL" = 0 ]; then FAIL=1; fi
	echo "test-compose: $PASS passed, $FAIL failed"
	exit "$rc"
}
trap on_exit EXIT

ensure_engine

step "compose file and Dockerfiles"
compose config -q || die "docker-compose.yml does not parse"
ok "docker-compose.yml parses"
stages() { awk '/^FROM scratch AS/ {on = 1} on && NF && !/^#/ && !/^COPY /' "$1"; }
if diff <(stages deploy/Dockerfile) <(stages deploy/Dockerfile.prebuilt) >"$OUT/stages.diff"; then
	ok "deploy/Dockerfile and deploy/Dockerfile.prebuilt have the same runtime stages (user, env, ports, healthcheck, entrypoint)"
else
	cat "$OUT/stages.diff"
	bad "deploy/Dockerfile and deploy/Dockerfile.prebuilt differ in their runtime stages"
fi

step "images, with no registry"
# A run that died before its teardown may have left the stack behind.
[ -z "$(leftovers)" ] || teardown
args=()
[ "$BUILD_STANDIN" = yes ] && args=(--nats-standin "$NATS_IMAGE")
ALO_TAG=$TAG bash deploy/build-images.sh "${args[@]}" || die "building the images failed"
for svc in gateway presence; do
	img=alo-$svc:$TAG
	user=$(docker image inspect -f '{{.Config.User}}' "$img")
	case $user in
	"" | 0 | 0:* | root | root:*) bad "$img runs as root ('$user')" ;;
	*) ok "$img runs as user $user" ;;
	esac
	if docker run --rm --network none --entrypoint /bin/sh "$img" -c true >/dev/null 2>&1; then
		bad "$img has a shell"
	else
		ok "$img has no shell (/bin/sh does not run)"
	fi
	ver=$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$img")
	if [ "$ver" = "$ALO_VERSION" ]; then ok "$img is labelled version $ver"; else bad "$img label version '$ver', want '$ALO_VERSION'"; fi
done

step "composecheck"
go build -o "$OUT/composecheck" ./deploy/composecheck || die "deploy/composecheck does not build"
ok "deploy/composecheck builds"

step "secrets: NATS passwords for this run"
rm -rf "$SECRETS"
go run ./deploy/natssecrets -dir "$SECRETS" || die "deploy/natssecrets failed"
ok "a password per NATS user in $SECRETS, bcrypt hashes for the server ($(ls "$SECRETS" | wc -l) files)"
if git ls-files --error-unmatch deploy/.secrets >/dev/null 2>&1 || git grep -qE '\$2[aby]\$' -- deploy docker-compose.yml; then
	bad "a NATS password or hash is committed"
else
	ok "no NATS password or hash is committed (deploy/nats.conf names them by variable)"
fi

# Client identity and TLS (issue 10): the stack runs --auth jwt and TLS with
# a dev secret and a self-signed certificate made for this run, and
# composecheck logs in with tokens over TLS and checks that a client without
# one is refused.
step "client identity: jwt and TLS on"
go run ./deploy/natssecrets -dir "$SECRETS" -dev-auth || die "deploy/natssecrets -dev-auth failed"
AUTH_ARGS=(-jwt-secret "$SECRETS/jwt-secret" -tls-ca "$SECRETS/tls-cert.pem")
ok "a JWT secret and a self-signed certificate in $SECRETS"

step "up: nats, presence, 3 gateways (project $PROJECT, gateways on 127.0.0.1:$GATEWAY_PORTS)"
STACK_UP=yes
compose up -d --no-build --scale gateway=3 >"$OUT/up.log" 2>&1 || { cat "$OUT/up.log"; die "compose up failed"; }
ok "compose up -d --scale gateway=3"

set +e
"$OUT/composecheck" -project "$PROJECT" -compose "$COMPOSE_CMD -p $PROJECT ${COMPOSE_FILES[*]}" "${AUTH_ARGS[@]}" \
	-scale 3 -nats-monitor "127.0.0.1:$MONITOR_PORT" -nats "nats://127.0.0.1:$NATS_PORT" -secrets "$SECRETS" \
	-v="${ALO_TEST_VERBOSE:-0}" | tee "$OUT/composecheck.log"
cc=${PIPESTATUS[0]}
set -e
line=$(grep -E '^composecheck: [0-9]+ passed, [0-9]+ failed$' "$OUT/composecheck.log" | tail -1 || true)
if [ -n "$line" ]; then
	read -r p f < <(echo "$line" | sed -E 's/^composecheck: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/')
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
fi
if [ "$cc" != 0 ]; then
	[ -n "$line" ] && [ "$f" != 0 ] || bad "composecheck exited $cc"
	dump_logs
fi

step "down"
teardown
left=$(leftovers)
if [ -z "$left" ]; then
	ok "compose down left no container, network or volume of $PROJECT"
else
	bad "compose down left: $(echo $left)"
fi
docker rmi "alo-gateway:$TAG" "alo-presence:$TAG" >/dev/null
[ "$BUILD_STANDIN" = yes ] && docker rmi "$NATS_IMAGE" >/dev/null
ok "removed the test images"
[ "$FAIL" = 0 ]
