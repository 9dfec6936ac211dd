#!/usr/bin/env bash
# The benchmark suite, from one command (issue 6; results in docs/performance.md).
#
#   scripts/bench.sh [--quick] [--no-lib] [--no-http] [--no-pg] [--out DIR]
#
# 1. concert-bench: the library in process on memory, SQLite and a throwaway
#    PostgreSQL (booking flow, queue at 1,000 and 1,000,000 waiting, a
#    100,000-seat venue, memory footprint).
# 2. PostgreSQL: seat holds/s through the library (16 threads) against
#    pgbench running the hold's own statement (the one call of
#    concert_fn.seat_hold the backend prepares) on the same server, side by
#    side in one program (bench/pg_holds.c); queue
#    joins/s (16 connections) against pgbench's single-row INSERT into a
#    table like concert.tokens (bench/pg_joins.c).
# 3. HTTP: concertd (memory and SQLite stores) and a bare libmicrohttpd
#    server answering the same bytes, under wrk at 64 and 1,000 connections.
# 4. The waiting room (issue 10): scripts/bench-queue.sh (HTTP status poll
#    on every store, the queue at 1,000 and 1,000,000 waiting in process,
#    the 100,000-buyer stampede); its results go to DIR/queue and are
#    appended to results.md. concert-bench's queue scenario runs there.
#
# Everything listens on 127.0.0.1 and every load run is bounded in time
# (10 s; 3 s with --quick). Results go to DIR (default build-bench/results):
# results.md (the summary with every target met or missed) and the raw
# figures (lib.json, pg_holds.tsv, http.tsv, logs).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
invocation="scripts/bench.sh${*:+ $*}"

quick=0 run_lib=1 run_http=1 run_pg=1 out=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --no-lib) run_lib=0 ;;
    --no-http) run_http=0 ;;
    --no-pg) run_pg=0 ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

build=$root/build-bench
bin=$build/bin
out=${out:-$build/results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ "$quick" = 1 ]; then
    dur=3 http_reps=1 pg_reps=1 lib_flags=(--quick) queue_users=200000
else
    dur=10 http_reps=3 pg_reps=3 lib_flags=() queue_users=1000000
fi
log() { printf '\n== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- setup
scripts/install-deps.sh
if ! command -v wrk >/dev/null; then
    # Not (yet) in install-deps.sh: only the benchmarks need it.
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y -q --no-install-recommends wrk >&2
fi
log "building (Release) in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCONCERT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target concert-bench concert-bench-bare-http concertd \
    concert_cli concert-bench-pg-joins concert-bench-pg-holds >/dev/null

# 1,000 connections need 1,000+ descriptors on both ends.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"

pids=()
pg_conninfo_file=$build/pg/conninfo
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -f "$pg_conninfo_file.server" ]; then tests/pg/stop.sh "$pg_conninfo_file" >/dev/null || true; fi
}
trap cleanup EXIT

{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "memory_mib=$(awk '/MemTotal/ {printf "%d", $2 / 1024}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "command=$invocation"
    echo "wrk=$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "duration_s=$dur"
} >"$out/machine.env"

pg_bindir=""
if [ "$run_pg" = 1 ]; then
    log "starting a throwaway PostgreSQL (tests/pg/start.sh)"
    tests/pg/start.sh "$pg_conninfo_file" >&2
    conninfo=$(cat "$pg_conninfo_file")
    pg_bindir=$(sed -n 's/^bindir=//p' "$pg_conninfo_file.server")
    echo "postgresql=$("$pg_bindir/postgres" --version)" >>"$out/machine.env"
fi

# ---------------------------------------------------------------- 1. in process
if [ "$run_lib" = 1 ]; then
    log "concert-bench (in process)"
    pg_flags=()
    [ "$run_pg" = 1 ] && pg_flags=(--pg "$conninfo")
    # The queue scenario is part 4's (scripts/bench-queue.sh).
    "$bin/concert-bench" "${lib_flags[@]}" --threads 4 "${pg_flags[@]}" \
        --only flow,venue,footprint,holds --json-out "$out/lib.json" | tee "$out/lib.txt"
fi

# ---------------------------------------------------------------- 2. PostgreSQL ceiling
if [ "$run_pg" = 1 ]; then
    log "PostgreSQL: library holds against pgbench running the hold's own statement, 16 clients"
    # Each repetition runs both sides, on fresh schedules of one database,
    # same buyers, same random seats, the side that goes first alternating
    # (bench/pg_holds.c).
    "$bin/concert-bench-pg-holds" --pg "$conninfo" --pgbench "$pg_bindir/pgbench" --threads 16 \
        --duration "$dur" --reps "$pg_reps" --tsv "$out/pg_holds.tsv" | tee "$out/pg_holds.txt"

    log "PostgreSQL: queue joins with 16 connections vs pgbench single-row INSERT"
    "$bin/concert-bench-pg-joins" --pg "$conninfo" --pgbench "$pg_bindir/pgbench" --threads 16 \
        --duration "$dur" | tee "$out/pg_joins.txt"
fi

# ---------------------------------------------------------------- 3. HTTP
# start_server, stop_server, issue_tokens, wait_idle: shared with
# scripts/bench-queue.sh.
# shellcheck source=bench/http/lib.sh
. bench/http/lib.sh

# run_wrk PHASE ENDPOINT SERVER CONNS REP PORT SCRIPT ARGS...: one bounded
# run; appends a line to http.tsv.
run_wrk() {
    local phase=$1 endpoint=$2 server=$3 conns=$4 rep=$5 port=$6 script=$7; shift 7
    local logf="$out/wrk.$endpoint.$server.$conns.$rep.log" line
    wait_idle "$port"
    wrk -t 2 -c "$conns" -d "${dur}s" --timeout 5s -s "bench/http/$script" \
        "http://127.0.0.1:$port" -- "$@" >"$logf" 2>&1 || true
    line=$(grep '^WRK_RESULT' "$logf" | head -1 || true)
    if [ -z "$line" ]; then
        echo "bench.sh: wrk gave no result, see $logf" >&2
        line="WRK_RESULT failed=1"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$endpoint" "$server" "$conns" "$rep" \
        "${line#WRK_RESULT }" >>"$out/http.tsv"
    echo "$endpoint $server c=$conns rep=$rep: ${line#WRK_RESULT }" >&2
}

if [ "$run_http" = 1 ]; then
    : >"$out/http.tsv"
    wrk_threads=2
    conn_list=(64 1000)
    runs=$(( ${#conn_list[@]} * http_reps ))
    bench/http/make_catalog.sh queue "$queue_users" >"$out/queue_catalog.json"
    # The flow takes a fresh seat per buyer: 200,000 per wrk thread per run.
    stride=200000
    flow_schedules=$(( (runs * wrk_threads * stride + 99999) / 100000 ))
    booking_users=100000
    bench/http/make_catalog.sh booking "$booking_users" "$flow_schedules" >"$out/booking_catalog.json"

    for store in memory sqlite; do
        store_uri="memory:"
        [ "$store" = sqlite ] && store_uri="sqlite:$out/http-$store-$$.db"

        # ---- queue phase: max_active 1,000, so joins and polls are of waiting tokens
        log "HTTP queue phase, $store store (importing $queue_users users)"
        rm -f "$out/http-$store-$$.db"*
        start_server "concertd-queue-$store" "$bin/concertd" --store "$store_uri" \
            --listen 127.0.0.1:0 --max-active 1000 --active-ttl 36000 --wait-ttl 36000 \
            --import "$out/queue_catalog.json"
        cd_pid=$server_pid cd_port=$server_port
        issue_tokens "$cd_port" 1 1000 "$out/active_q.tokens"
        issue_tokens "$cd_port" 1001 2000 "$out/waiting.tokens"
        if [ "$store" = memory ]; then
            # The bytes concertd sends, for the bare server to send too.
            curl -s -XPOST -H 'Content-Type: application/json' -d "{\"user_id\":$queue_users}" \
                "http://127.0.0.1:$cd_port/api/v1/queue/tokens" >"$out/body_issue.json"
            curl -s -H "Authorization: Bearer $(head -1 "$out/waiting.tokens")" \
                "http://127.0.0.1:$cd_port/api/v1/queue/tokens/current" >"$out/body_status.json"
            start_server bare-queue "$bin/concert-bench-bare-http" --port 0 \
                --route /api/v1/queue/tokens 201 "$out/body_issue.json" \
                --route /api/v1/queue/tokens/current 200 "$out/body_status.json"
            bare_pid=$server_pid bare_port=$server_port
        fi
        issue_first=3001
        per_run=$(( (queue_users - issue_first) / runs ))
        k=0
        for conns in "${conn_list[@]}"; do
            for rep in $(seq 1 "$http_reps"); do
                first=$(( issue_first + k * per_run ))
                run_wrk queue issue "concertd-$store" "$conns" "$rep" "$cd_port" issue.lua \
                    "$first" "$per_run" "$wrk_threads"
                [ "$store" = memory ] && run_wrk queue issue bare "$conns" "$rep" "$bare_port" \
                    issue.lua "$first" "$per_run" "$wrk_threads"
                run_wrk queue status "concertd-$store" "$conns" "$rep" "$cd_port" status.lua \
                    "$out/waiting.tokens"
                [ "$store" = memory ] && run_wrk queue status bare "$conns" "$rep" "$bare_port" \
                    status.lua "$out/waiting.tokens"
                k=$((k + 1))
            done
        done
        stop_server "$cd_pid"
        [ "$store" = memory ] && stop_server "$bare_pid"

        # ---- booking phase: max_active 100,000, every buyer admitted at once
        log "HTTP booking phase, $store store ($booking_users users, $flow_schedules x 100,000 + 1,000 seats)"
        rm -f "$out/http-$store-$$.db"*
        start_server "concertd-booking-$store" "$bin/concertd" --store "$store_uri" \
            --listen 127.0.0.1:0 --max-active 100000 --active-ttl 36000 --hold-ttl 36000 \
            --import "$out/booking_catalog.json"
        cd_pid=$server_pid cd_port=$server_port
        issue_tokens "$cd_port" 1 1000 "$out/active.tokens"
        if [ "$store" = memory ]; then
            curl -s -H "Authorization: Bearer $(head -1 "$out/active.tokens")" \
                "http://127.0.0.1:$cd_port/api/v1/schedules/1/seats" >"$out/body_seats.json"
            issue_tokens "$cd_port" "$booking_users" 1 "$out/capture.tokens"
            tok=$(head -1 "$out/capture.tokens")
            curl -s -XPOST -H 'Content-Type: application/json' -d "{\"user_id\":$booking_users}" \
                "http://127.0.0.1:$cd_port/api/v1/queue/tokens" >"$out/body_issue_active.json"
            curl -s -XPOST -H 'Content-Type: application/json' -H "Authorization: Bearer $tok" \
                -d "{\"schedule_id\":$((flow_schedules + 1)),\"seat_number\":100000}" \
                "http://127.0.0.1:$cd_port/api/v1/reservations" >"$out/body_reserve.json"
            rid=$(grep -o '"id":[0-9]*' "$out/body_reserve.json" | head -1 | cut -d: -f2)
            curl -s -XPOST -H 'Content-Type: application/json' -H "Authorization: Bearer $tok" \
                -d "{\"reservation_id\":$rid}" \
                "http://127.0.0.1:$cd_port/api/v1/payments" >"$out/body_pay.json"
            start_server bare-booking "$bin/concert-bench-bare-http" --port 0 \
                --route /api/v1/schedules/ 200 "$out/body_seats.json" \
                --route /api/v1/queue/tokens 201 "$out/body_issue_active.json" \
                --route /api/v1/reservations 201 "$out/body_reserve.json" \
                --route /api/v1/payments 201 "$out/body_pay.json"
            bare_pid=$server_pid bare_port=$server_port
        fi
        flow_first_user=2001
        flow_users=$(( (booking_users - flow_first_user) / runs ))
        k=0
        for conns in "${conn_list[@]}"; do
            for rep in $(seq 1 "$http_reps"); do
                run_wrk booking seats "concertd-$store" "$conns" "$rep" "$cd_port" seats.lua \
                    "$out/active.tokens" 1
                [ "$store" = memory ] && run_wrk booking seats bare "$conns" "$rep" "$bare_port" \
                    seats.lua "$out/active.tokens" 1
                flow_args=("$((flow_first_user + k * flow_users))" "$flow_users" "$wrk_threads"
                           "$((k * wrk_threads * stride))" "$stride" 2 100000)
                run_wrk booking flow "concertd-$store" "$conns" "$rep" "$cd_port" flow.lua \
                    "${flow_args[@]}"
                [ "$store" = memory ] && run_wrk booking flow bare "$conns" "$rep" "$bare_port" \
                    flow.lua "${flow_args[@]}"
                k=$((k + 1))
            done
        done
        stop_server "$cd_pid"
        [ "$store" = memory ] && stop_server "$bare_pid"
        rm -f "$out/http-$store-$$.db"*
    done
fi

# ---------------------------------------------------------------- 4. waiting room
queue_flags=(--no-build --build "$build" --out "$out/queue")
[ "$quick" = 1 ] && queue_flags+=(--quick)
[ "$run_lib" = 1 ] || queue_flags+=(--no-lib)
[ "$run_http" = 1 ] || queue_flags+=(--no-http --no-stampede)
[ "$run_pg" = 1 ] || queue_flags+=(--no-pg)
log "the waiting room: scripts/bench-queue.sh ${queue_flags[*]}"
scripts/bench-queue.sh "${queue_flags[@]}" >"$out/queue.txt"

# ---------------------------------------------------------------- summary
log "summary"
{ /usr/bin/python3 bench/summary.py "$out"; cat "$out/queue/results.md"; } | tee "$out/results.md"
echo "bench.sh: results in $out/results.md" >&2
