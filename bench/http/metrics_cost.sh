#!/usr/bin/env bash
# What /metrics and the access log cost on seat-listing throughput (issue
# 13's target: <= 5%). Two concertd on a memory store with the booking
# catalog: ON = metrics recorded + text access log to a file (the default),
# OFF = --no-metrics --log-format off. wrk (-t2 -c64, seats.lua) runs
# against each in turn, the side that goes first alternating, REPS times;
# prints the medians, the median of the paired ratios (each ON run against
# the OFF run next to it) and the server CPU time per request (utime+stime
# of the process over the run / requests served), which other load on the
# machine disturbs much less than requests/s. The /metrics endpoint is
# scraped once a second during ON's runs, as Prometheus would (more often).
#
#   bench/http/metrics_cost.sh CONCERTD [REPS] [SECONDS] [THREADS]
#   ON_ARGS="--log-format off" ...: more flags for the ON server (to measure
#   the metrics alone, or the json log); ON_LOG=/dev/null: where ON's log
#   goes (default a file in a temporary directory)
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
        --threads "$threads" "$@" >"$work/$name.out" 2>"${log:-$work/$name.log}" &
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

load0=$(cut -d' ' -f1 /proc/loadavg)
# shellcheck disable=SC2086 # ON_ARGS is a list of flags
on_port=$(log=${ON_LOG:-} start on ${ON_ARGS:-})
off_port=$(start off --no-metrics --log-format off)
tokens "$on_port" "$work/on.tokens"
tokens "$off_port" "$work/off.tokens"

cpu_ticks() { # PID: utime + stime of the process, in clock ticks
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

run() { # NAME PORT: one wrk run, prints "requests/s cpu_us_per_request"
    local scraper="" pid before after result
    pid=$(cat "$work/$1.pid")
    if [ "$1" = on ]; then
        (while sleep 1; do curl -s -o /dev/null "http://127.0.0.1:$2/metrics"; done) &
        scraper=$!
    fi
    before=$(cpu_ticks "$pid")
    result=$(wrk -t 2 -c 64 -d "${dur}s" -s bench/http/seats.lua "http://127.0.0.1:$2" \
        -- "$work/$1.tokens" 1 | grep WRK_RESULT)
    after=$(cpu_ticks "$pid")
    [ -z "$scraper" ] || kill "$scraper"
    echo "$result" | awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%s %.2f\n", v["rps"], t / hz * 1e6 / v["requests"] }'
}

: >"$work/on.rps"; : >"$work/off.rps"; : >"$work/on.cpu"; : >"$work/off.cpu"; : >"$work/pairs"
for rep in $(seq "$reps"); do
    if [ $((rep % 2)) = 1 ]; then order="on off"; else order="off on"; fi
    for side in $order; do
        port=$on_port; [ "$side" = off ] && port=$off_port
        read -r rps cpu < <(run "$side" "$port")
        echo "$rps" >>"$work/$side.rps"
        echo "$cpu" >>"$work/$side.cpu"
        eval "last_$side=$rps"
        echo "rep $rep $side: $rps req/s, $cpu us CPU/request" >&2
    done
    awk -v a="$last_on" -v b="$last_off" 'BEGIN { print a / b }' >>"$work/pairs"
done
median() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
on=$(median "$work/on.rps"); off=$(median "$work/off.rps")
on_cpu=$(median "$work/on.cpu"); off_cpu=$(median "$work/off.cpu")
echo "seat listing, $reps x ${dur}s alternating, wrk -t2 -c64, concertd --threads $threads; load average at start: $load0"
echo "  metrics + text log ${ON_ARGS:-}:            median $on req/s, $on_cpu us CPU/request"
echo "  --no-metrics --log-format off: median $off req/s, $off_cpu us CPU/request"
awk -v a="$on" -v b="$off" 'BEGIN { printf "  ratio of medians on/off: %.3f\n", a / b }'
echo "  median of paired ratios on/off: $(median "$work/pairs")"
awk -v a="$on_cpu" -v b="$off_cpu" 'BEGIN { printf "  CPU per request on/off: %.3f (throughput bound by CPU: cost %.1f%%)\n", a / b, (1 - b / a) * 100 }'
[ -n "${ON_LOG:-}" ] ||
    echo "  access log lines written by ON: $(grep -c ' route=' "$work/on.log")"
