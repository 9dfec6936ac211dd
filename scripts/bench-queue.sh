#!/usr/bin/env bash
# The waiting-room figures of issue 10, from one command (results in
# docs/performance.md, "Waiting room (issue 10)"):
#
#   scripts/bench-queue.sh [--quick] [--no-http] [--no-lib] [--no-stampede]
#                          [--no-pg] [--build DIR] [--out DIR] [--no-build]
#
# a. HTTP status poll of a WAITING token (64 connections, wrk -t2, 3 runs
#    of 5 s, interleaved): the bare libmicrohttpd server answering the same
#    bytes, concertd on memory, on SQLite and on PostgreSQL, side by side.
# b. In process (concert-bench --only queue): a poll at 1,000,000 waiting
#    against 1,000, through the public API (the db's cache) and the store's
#    own poll (queue_refresh_ms 0), on memory, SQLite and PostgreSQL.
# c. The stampede: 100,000 distinct users join as fast as they come, then
#    every buyer polls its token for 10 s; SQLite (one concertd) and
#    PostgreSQL (two concertd on one database, one wrk per server).
#
# PostgreSQL is a throwaway server (tests/pg/start.sh). Everything listens
# on 127.0.0.1, every load run has a duration, and the servers are stopped
# on exit. Results go to DIR (default BUILD/results-queue): results.md (the
# table, with each target met or missed) and the raw figures. --quick:
# 2 s runs, 1 repetition, 100,000 waiting on durable stores, 20,000 buyers.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
invocation="scripts/bench-queue.sh${*:+ $*}"

quick=0 run_http=1 run_lib=1 run_stampede=1 run_pg=1 build="" out="" do_build=1
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --no-http) run_http=0 ;;
    --no-lib) run_lib=0 ;;
    --no-stampede) run_stampede=0 ;;
    --no-pg) run_pg=0 ;;
    --no-build) do_build=0 ;;
    --build) build=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-queue.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

build=${build:-$root/build-bench}
mkdir -p "$build"
build=$(cd "$build" && pwd)
bin=$build/bin
out=${out:-$build/results-queue}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ "$quick" = 1 ]; then
    http_dur=2 http_reps=1 lib_flags=(--quick --reps 1) buyers=20000 poll_dur=3
else
    http_dur=5 http_reps=3 lib_flags=(--reps 3) buyers=100000 poll_dur=10
fi
# The stampede's crowd: connections in all (split between the servers).
stampede_conns=1000
join_bound=180 # seconds: wrk's -d for the joins, which normally end sooner
log() { printf '\n== %s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- setup
if [ "$do_build" = 1 ]; then
    scripts/install-deps.sh
    if ! command -v wrk >/dev/null; then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get install -y -q --no-install-recommends wrk >&2
    fi
    log "building (Release) in $build"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCONCERT_BUILD_TESTS=OFF >/dev/null
    cmake --build "$build" -j"$(nproc)" --target concert-bench concert-bench-bare-http \
        concertd >/dev/null
fi

# 1,000 connections need 1,000+ descriptors on both ends.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"

pids=()
pg_conninfo_file=$build/pg-queue/conninfo
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -f "$pg_conninfo_file.server" ]; then tests/pg/stop.sh "$pg_conninfo_file" >/dev/null || true; fi
    rm -f "$out"/*.db "$out"/*.db-wal "$out"/*.db-shm
}
trap cleanup EXIT
# shellcheck source=bench/http/lib.sh
. bench/http/lib.sh

{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "memory_mib=$(awk '/MemTotal/ {printf "%d", $2 / 1024}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "command=$invocation"
    echo "wrk=$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "http_duration_s=$http_dur"
    echo "http_reps=$http_reps"
    echo "buyers=$buyers"
    echo "poll_duration_s=$poll_dur"
    echo "stampede_conns=$stampede_conns"
    echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.env"
started_at=$(date +%s)

conninfo=""
if [ "$run_pg" = 1 ]; then
    log "starting a throwaway PostgreSQL (tests/pg/start.sh)"
    tests/pg/start.sh "$pg_conninfo_file" >&2
    conninfo=$(cat "$pg_conninfo_file")
    pg_bindir=$(sed -n 's/^bindir=//p' "$pg_conninfo_file.server")
    echo "postgresql=$("$pg_bindir/postgres" --version)" >>"$out/machine.env"
fi
# pg_store NAME: a fresh database on the throwaway server; prints its store URI.
# server_cpu_pids STORE PID...: the processes that do a request's work: the
# servers, plus the PostgreSQL server's processes on that store.
server_cpu_pids() {
    local store=$1; shift
    echo "$@"
    [ "$store" = postgresql ] && pg_server_pids "$pg_conninfo_file.server"
    return 0
}
pg_store() {
    "$pg_bindir/psql" -X -q -v ON_ERROR_STOP=1 "$conninfo" \
        -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >&2
    echo "$conninfo dbname=$1"
}

# ---------------------------------------------------------------- a. HTTP status poll
if [ "$run_http" = 1 ]; then
    log "a. HTTP status poll of a waiting token, 64 connections"
    : >"$out/http_status.tsv"
    bench/http/make_catalog.sh queue 3001 >"$out/status_catalog.json"
    stores=(memory sqlite)
    [ "$run_pg" = 1 ] && stores+=(postgresql)
    declare -A port_of pid_of
    for store in "${stores[@]}"; do
        case "$store" in
        memory) uri="memory:" ;;
        sqlite) rm -f "$out/status.db"*; uri="sqlite:$out/status.db" ;;
        postgresql) uri=$(pg_store concert_queue_status_get) ;;
        esac
        # max_active 1,000 and long lifetimes: users 1..1,000 are ACTIVE,
        # 1,001..3,000 WAIT for the whole run.
        start_server "concertd-status-$store" "$bin/concertd" --store "$uri" \
            --listen 127.0.0.1:0 --max-active 1000 --active-ttl 36000 --wait-ttl 36000 \
            --import "$out/status_catalog.json"
        port_of[$store]=$server_port pid_of[$store]=$server_pid
        issue_tokens "$server_port" 1 1000 "$out/status_active.$store.tokens"
        issue_tokens "$server_port" 1001 2000 "$out/status_waiting.$store.tokens"
    done
    # The bytes concertd sends for a waiting token, for the bare server.
    curl -s -H "Authorization: Bearer $(head -1 "$out/status_waiting.memory.tokens")" \
        "http://127.0.0.1:${port_of[memory]}/api/v1/queue/tokens/current" >"$out/body_status.json"
    if ! grep -q '"status":"WAITING"' "$out/body_status.json"; then
        echo "bench-queue.sh: the polled token is not WAITING: $(cat "$out/body_status.json")" >&2
        exit 1
    fi
    start_server bare-status "$bin/concert-bench-bare-http" --port 0 \
        --route /api/v1/queue/tokens/current 200 "$out/body_status.json"
    port_of[bare]=$server_port pid_of[bare]=$server_pid
    for rep in $(seq 1 "$http_reps"); do
        for server in bare "${stores[@]}"; do
            tokens=$out/status_waiting.${server/bare/memory}.tokens
            logf="$out/wrk.status.$server.$rep.log"
            wait_idle "${port_of[$server]}"
            cpu_pids=$(server_cpu_pids "$server" "${pid_of[$server]}")
            # shellcheck disable=SC2086
            cpu0=$(proc_cpu_ms $cpu_pids)
            wrk -t 2 -c 64 -d "${http_dur}s" --timeout 5s -s bench/http/status.lua \
                "http://127.0.0.1:${port_of[$server]}" -- "$tokens" >"$logf" 2>&1 || true
            # shellcheck disable=SC2086
            result="$(wrk_result "$logf") server_cpu_ms=$(($(proc_cpu_ms $cpu_pids) - cpu0))"
            printf '%s\t%s\t%s\n' "$server" "$rep" "$result" >>"$out/http_status.tsv"
            echo "status $server rep=$rep: $result" >&2
        done
    done
    for p in "${pids[@]}"; do stop_server "$p"; done
    pids=()
fi

# ---------------------------------------------------------------- b. in process
if [ "$run_lib" = 1 ]; then
    log "b. concert-bench --only queue (1,000 and 1,000,000 waiting)"
    lib_stores=memory,sqlite pg_flags=()
    if [ "$run_pg" = 1 ]; then lib_stores+=,pg; pg_flags=(--pg "$conninfo"); fi
    "$bin/concert-bench" --only queue --store "$lib_stores" "${lib_flags[@]}" "${pg_flags[@]}" \
        --tmpdir "$out" --json-out "$out/lib.json" | tee "$out/lib.txt"
fi

# ---------------------------------------------------------------- c. the stampede
# stampede STORE "PID..." PORT...: the joins (one wrk per server, each with its share
# of the users, connections and wrk threads), stopped when every user has
# been answered, then every buyer polling through the server that issued
# its token (as behind a sticky load balancer) for poll_dur seconds.
stampede() {
    local store=$1 cpu_pids cpu0; shift
    # shellcheck disable=SC2086 # $1 is a list of pids
    cpu_pids=$(server_cpu_pids "$store" $1); shift
    local ports=("$@") n=$# i
    local conns=$((stampede_conns / n)) threads=$((2 / n)) share=$((buyers / n))
    [ "$threads" -ge 1 ] || threads=1
    local wrks=() want=$((n * threads))
    rm -f "$out/stampede.$store".*
    # shellcheck disable=SC2086
    cpu0=$(proc_cpu_ms $cpu_pids)
    for i in $(seq 0 $((n - 1))); do
        wrk -t "$threads" -c "$conns" -d "${join_bound}s" --timeout 10s \
            -s bench/http/stampede_join.lua "http://127.0.0.1:${ports[$i]}" -- \
            $((1 + i * share)) "$share" "$threads" "$out/stampede.$store.$i" \
            >"$out/wrk.stampede.$store.join.$i.log" 2>&1 &
        wrks+=($!)
    done
    # wrk always runs for its -d: stop it (SIGINT: it still reports) once
    # every thread has had all its users answered, or when all have exited.
    while [ "$(find "$out" -maxdepth 1 -name "stampede.$store.*.done" | wc -l)" -lt "$want" ]; do
        local alive=0
        for w in "${wrks[@]}"; do kill -0 "$w" 2>/dev/null && alive=1; done
        [ "$alive" = 1 ] || break
        sleep 0.1
    done
    for w in "${wrks[@]}"; do kill -INT "$w" 2>/dev/null || true; done
    for w in "${wrks[@]}"; do wait "$w" || true; done
    # shellcheck disable=SC2086
    local join_cpu=$(($(proc_cpu_ms $cpu_pids) - cpu0))
    for i in $(seq 0 $((n - 1))); do
        result="$(wrk_result "$out/wrk.stampede.$store.join.$i.log") servers_cpu_ms=$join_cpu"
        printf '%s\t%s\tjoin\t%s\t%s\n' "$store" "$n" "$i" "$result" >>"$out/stampede.tsv"
        echo "stampede $store join server $i: $result" >&2
        cat "$out/stampede.$store.$i".*.tokens >"$out/stampede.$store.$i.tokens"
        wait_idle "${ports[$i]}"
    done
    wrks=()
    # shellcheck disable=SC2086
    cpu0=$(proc_cpu_ms $cpu_pids)
    for i in $(seq 0 $((n - 1))); do
        wrk -t "$threads" -c "$conns" -d "${poll_dur}s" --timeout 10s -s bench/http/status.lua \
            "http://127.0.0.1:${ports[$i]}" -- "$out/stampede.$store.$i.tokens" \
            >"$out/wrk.stampede.$store.poll.$i.log" 2>&1 &
        wrks+=($!)
    done
    for w in "${wrks[@]}"; do wait "$w" || true; done
    # shellcheck disable=SC2086
    local poll_cpu=$(($(proc_cpu_ms $cpu_pids) - cpu0))
    for i in $(seq 0 $((n - 1))); do
        result="$(wrk_result "$out/wrk.stampede.$store.poll.$i.log") servers_cpu_ms=$poll_cpu"
        printf '%s\t%s\tpoll\t%s\t%s\n' "$store" "$n" "$i" "$result" >>"$out/stampede.tsv"
        echo "stampede $store poll server $i: $result" >&2
        curl -s "http://127.0.0.1:${ports[$i]}/api/v1/queue" >"$out/stampede.$store.$i.queue.json" || true
    done
}

if [ "$run_stampede" = 1 ]; then
    : >"$out/stampede.tsv"
    bench/http/make_catalog.sh queue "$buyers" >"$out/stampede_catalog.json"
    # max_active 1,000: everyone after the first thousand waits. Default
    # lifetimes, as a sale would run.
    log "c. stampede on SQLite: $buyers buyers, one concertd"
    rm -f "$out/stampede.db"*
    start_server concertd-stampede-sqlite "$bin/concertd" --store "sqlite:$out/stampede.db" \
        --listen 127.0.0.1:0 --max-active 1000 --import "$out/stampede_catalog.json"
    stampede sqlite "$server_pid" "$server_port"
    for p in "${pids[@]}"; do stop_server "$p"; done
    pids=()
    if [ "$run_pg" = 1 ]; then
        log "c. stampede on PostgreSQL: $buyers buyers, two concertd on one database"
        uri=$(pg_store concert_queue_stampede)
        start_server concertd-stampede-pg-0 "$bin/concertd" --store "$uri" \
            --listen 127.0.0.1:0 --max-active 1000 --import "$out/stampede_catalog.json"
        port0=$server_port pid0=$server_pid
        start_server concertd-stampede-pg-1 "$bin/concertd" --store "$uri" \
            --listen 127.0.0.1:0 --max-active 1000
        stampede postgresql "$pid0 $server_pid" "$port0" "$server_port"
        for p in "${pids[@]}"; do stop_server "$p"; done
        pids=()
    fi
fi

# ---------------------------------------------------------------- summary
{
    echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "elapsed_s=$(($(date +%s) - started_at))"
} >>"$out/machine.env"
log "summary"
/usr/bin/python3 bench/queue_summary.py "$out" | tee "$out/results.md"
echo "bench-queue.sh: results in $out/results.md" >&2
