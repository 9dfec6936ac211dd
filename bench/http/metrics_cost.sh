#!/usr/bin/env bash
# What /metrics and the access log cost on seat-listing throughput (issue
# 13's target: <= 5%). Two concertd on a memory store with the booking
# catalog: ON = metrics recorded + text access log to a file (the default),
# OFF = --no-metrics --log-format off. wrk (-t2 -c64, seats.lua) runs
# against each in turn, the side that goes first alternating, REPS times;
# prints the medians and their ratio. The /metrics endpoint is scraped once
# a second during ON's runs, as Prometheus would (a little more often).
#
#   bench/http/metrics_cost.sh CONCERTD [REPS] [SECONDS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
concertd=$1
reps=${2:-7}
dur=${3:-5}
threads=${4:-1}
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
bench/http/make_catalog.sh booking 64 0 >"$work/catalog.json"

start() { # NAME ARGS...: start a server, print its port
    local name=$1; shift
    "$concertd" --store memory: --import "$work/catalog.json" --listen 127.0.0.1:0 \
        --threads "$threads" "$@" >"$work/$name.out" 2>"$work/$name.log" &
    echo $! >"$work/$name.pid"
    for _ in $(seq 100); do
        grep -q listening "$work/$name.out" 2>/dev/null && break
        sleep 0.05
    done
    sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/$name.out"
}

tokens() { # PORT FILE: 64 ACTIVE tokens
    for u in $(seq 64); do
        curl -s -X POST -H 'Content-Type: application/json' -d "{\"user_id\":$u}" \
            "http://127.0.0.1:$1/api/v1/queue/tokens" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
    done >"$2"
}

on_port=$(start on)
off_port=$(start off --no-metrics --log-format off)
tokens "$on_port" "$work/on.tokens"
tokens "$off_port" "$work/off.tokens"

run() { # NAME PORT: one wrk run, prints requests/s
    local scraper=""
    if [ "$1" = on ]; then
        (while sleep 1; do curl -s -o /dev/null "http://127.0.0.1:$2/metrics"; done) &
        scraper=$!
    fi
    wrk -t 2 -c 64 -d "${dur}s" -s bench/http/seats.lua "http://127.0.0.1:$2" \
        -- "$work/$1.tokens" 1 | sed -n 's/.*WRK_RESULT.* rps=\([0-9.]*\).*/\1/p'
    [ -z "$scraper" ] || kill "$scraper"
}

: >"$work/on.rps"; : >"$work/off.rps"
for rep in $(seq "$reps"); do
    if [ $((rep % 2)) = 1 ]; then order="on off"; else order="off on"; fi
    for side in $order; do
        port=$on_port; [ "$side" = off ] && port=$off_port
        rps=$(run "$side" "$port")
        echo "$rps" >>"$work/$side.rps"
        echo "rep $rep $side: $rps req/s" >&2
    done
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
on=$(median "$work/on.rps"); off=$(median "$work/off.rps")
echo "seat listing, median of $reps x ${dur}s, wrk -t2 -c64, concertd --threads $threads:"
echo "  metrics + text log: $on req/s"
echo "  --no-metrics --log-format off: $off req/s"
awk -v a="$on" -v b="$off" 'BEGIN { printf "  ratio on/off: %.3f (cost %.1f%%)\n", a / b, (1 - a / b) * 100 }'
echo "  access log lines written by ON: $(grep -c ' route=' "$work/on.log")"
