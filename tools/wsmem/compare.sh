#!/usr/bin/env bash
# compare.sh N: server RSS per idle WebSocket connection for each library,
# N connections each, measured in separate processes.
set -euo pipefail
cd "$(dirname "$0")"
n=${1:-10000}
bin=$(mktemp -d)/wsmem
go build -o "$bin" .
for lib in coder gorilla gorilla-small gobwas; do
	out=$(mktemp)
	"$bin" server "$lib" >"$out" &
	srv=$!
	until [ -s "$out" ]; do sleep 0.1; done
	"$bin" client "$n" "$(head -1 "$out")" >/dev/null &
	cli=$!
	until grep -q done "$out"; do sleep 0.5; done
	sed -n 2p "$out"
	kill "$cli" "$srv"
	wait "$cli" "$srv" 2>/dev/null || true
	rm -f "$out"
done
