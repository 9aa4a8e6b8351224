#!/usr/bin/env bash
# alo.sh ALO_BINARY tcp|ws|udp N: RSS of a running alo per idle session on
# one transport (the whole process: gateway, presence and NATS).
set -euo pipefail
cd "$(dirname "$0")"
alo=$1 tr=$2 n=${3:-10000}
bin=$(mktemp -d)/wsmem
go build -o "$bin" .
port=$((20000 + RANDOM % 10000))
"$alo" --tcp 127.0.0.1:$port --udp 127.0.0.1:$port --udp-idle 10m --http 127.0.0.1:$((port + 1)) --log-level warn &
apid=$!
sleep 1
addr=127.0.0.1:$port
[ "$tr" = ws ] && addr=127.0.0.1:$((port + 1))
rss() { awk '/VmRSS/ {print $2}' /proc/$apid/status; }
out=$(mktemp)
# A few sessions first, so one-off allocations are in the baseline.
"$bin" sessions "$tr" 200 "$addr" 1000000 >"$out" &
warm=$!
until grep -q ready "$out"; do sleep 0.5; done
sleep 2
base=$(rss)
"$bin" sessions "$tr" "$n" "$addr" 1 >"$out" &
cli=$!
until grep -q ready "$out"; do sleep 0.5; done
sleep 5
after=$(rss)
echo "$tr: $n idle sessions: alo RSS $base -> $after KiB, $(awk -v a="$after" -v b="$base" -v n="$n" 'BEGIN {printf "%.1f", (a-b)/n}') KiB per session"
kill "$cli" "$warm" "$apid"
wait 2>/dev/null || true
rm -f "$out"
