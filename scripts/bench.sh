#!/usr/bin/env bash
# The benchmark suite, from one command (issues 6 and 12; results in
# docs/performance.md).
#
#   scripts/bench.sh [--quick] [--no-lib] [--no-http] [--no-pg] [--out DIR]
#                    [--build DIR] [--no-build] [--stores LIST]
#                    [--http-only PARTS] [--compare FILE]
#
# 1. concert-bench: the library in process on memory, SQLite and a throwaway
#    PostgreSQL (booking flow, a 100,000-seat venue, memory footprint).
# 2. PostgreSQL: seat holds/s through the library (16 threads) against
#    pgbench running the hold's own statement, side by side in one program
#    (bench/pg_holds.c); queue joins/s (16 connections) against pgbench's
#    single-row INSERT into a table like concert.tokens (bench/pg_joins.c).
# 3. HTTP: concertd on each store (memory, SQLite, PostgreSQL: a fresh
#    database per server) and a bare libmicrohttpd server answering the same
#    bytes and headers, under wrk -t2 at 64 and 1,000 connections: issue,
#    status, seats (plain, and seats-inm: If-None-Match with the last ETag),
#    flow; then flow-pg: the flow on PostgreSQL through 1 and 2 concertd
#    processes sharing one port (--reuse-port) and one database, 64
#    connections, with the CPU each process group used during the run.
#    Then, issue 13 (memory store; parts sse and metrics): sse, 5,000
#    Server-Sent Events subscribers on one concertd (bench/sse,
#    concert-bench-sse: RSS, idle CPU, delivery latency of changes,
#    status-poll throughput with and without them; sse.json, sse.txt);
#    metrics, seat-listing throughput with /metrics and the text access log
#    to a file, with metrics alone, and with --no-metrics --log-format off,
#    in rotating order (metrics.tsv).
# 4. The waiting room (issue 10): scripts/bench-queue.sh; its results go to
#    DIR/queue and are appended to results.md.
#
# --stores LIST       HTTP stores, of memory,sqlite,postgresql (default all;
#                     --no-pg drops postgresql and flow-pg)
# --http-only PARTS   only these HTTP parts, of issue,status,seats,flow,
#                     flow-pg,sse,metrics (seats includes seats-inm);
#                     skips 1, 2 and 4
# --compare FILE      the http.tsv to compare with (default: DIR/http.tsv
#                     of the last run, kept as DIR/http.prev.tsv); rows more
#                     than 15% slower are flagged
# --build DIR         Release build tree (default build-bench); --no-build
#                     uses the binaries already there
#
# Everything listens on 127.0.0.1 and every load run is bounded in time
# (10 s; 3 s with --quick). Results go to DIR (default BUILD/results):
# results.md (the summary with every target met or missed) and the raw
# figures (lib.json, pg_holds.tsv, http.tsv, logs).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
invocation="scripts/bench.sh${*:+ $*}"

quick=0 run_lib=1 run_http=1 run_pg=1 run_ceiling=1 run_queue=1 out="" build="" do_build=1
stores_opt="memory,sqlite,postgresql" http_only="" compare=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --no-lib) run_lib=0 ;;
    --no-http) run_http=0 ;;
    --no-pg) run_pg=0 ;;
    --out) out=$2; shift ;;
    --build) build=$2; shift ;;
    --no-build) do_build=0 ;;
    --stores) stores_opt=$2; shift ;;
    --http-only) http_only=$2; shift ;;
    --compare) compare=$2; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

# The HTTP parts to run (want PART: is it one of them?).
all_parts="issue status seats flow flow-pg sse metrics"
declare -A part_on
if [ -n "$http_only" ]; then
    for p in ${http_only//,/ }; do
        case " $all_parts " in
        *" $p "*) part_on[$p]=1 ;;
        *) echo "bench.sh: --http-only: unknown part '$p' (of: ${all_parts// /,})" >&2; exit 2 ;;
        esac
    done
    run_lib=0 run_ceiling=0 run_queue=0 run_http=1
else
    for p in $all_parts; do part_on[$p]=1; done
fi
want() { [ "${part_on[$1]:-0}" = 1 ]; }
stores=()
for s in ${stores_opt//,/ }; do
    case "$s" in
    memory|sqlite) stores+=("$s") ;;
    postgresql) [ "$run_pg" = 1 ] && stores+=("$s") ;;
    *) echo "bench.sh: --stores: unknown store '$s' (of: memory,sqlite,postgresql)" >&2; exit 2 ;;
    esac
done
if [ "$run_pg" = 0 ]; then
    run_ceiling=0
    if want flow-pg; then
        echo "bench.sh: --no-pg: flow-pg (PostgreSQL, 1 and 2 concertd) is skipped" >&2
        part_on[flow-pg]=0
    fi
fi
if [ -n "$compare" ] && [ ! -f "$compare" ]; then
    echo "bench.sh: --compare: no file $compare" >&2
    exit 2
fi
[ -z "$compare" ] || compare=$(cd "$(dirname "$compare")" && pwd)/$(basename "$compare")
if [ "$run_http" = 1 ] && [ ${#stores[@]} -eq 0 ] && ! want flow-pg && ! want sse &&
    ! want metrics; then
    echo "bench.sh: no HTTP store left to run" >&2
    exit 2
fi
# Does any part need the PostgreSQL server?
need_pg=0
if [ "$run_pg" = 1 ]; then
    [ "$run_lib" = 1 ] || [ "$run_ceiling" = 1 ] && need_pg=1
    if [ "$run_http" = 1 ]; then
        want flow-pg && need_pg=1
        # The store parts; sse and metrics run on the memory store.
        if want issue || want status || want seats || want flow; then
            case " ${stores[*]} " in *" postgresql "*) need_pg=1 ;; esac
        fi
    fi
fi

build=${build:-$root/build-bench}
mkdir -p "$build"
build=$(cd "$build" && pwd)
bin=$build/bin
out=${out:-$build/results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ "$quick" = 1 ]; then
    dur=3 http_reps=1 pg_reps=1 lib_flags=(--quick) queue_users=200000
else
    dur=10 http_reps=3 pg_reps=3 lib_flags=() queue_users=1000000
fi
log() { printf '\n== %s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# The last run's HTTP figures are what this one is compared with.
if [ "$run_http" = 1 ] && [ -z "$compare" ] && [ -s "$out/http.tsv" ]; then
    mv "$out/http.tsv" "$out/http.prev.tsv"
    [ -f "$out/machine.env" ] && cp "$out/machine.env" "$out/http.prev.env"
    compare=$out/http.prev.tsv
fi

# ---------------------------------------------------------------- setup
if [ "$do_build" = 1 ]; then
    scripts/install-deps.sh
    if ! command -v wrk >/dev/null; then
        # Not (yet) in install-deps.sh: only the benchmarks need it.
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get install -y -q --no-install-recommends wrk >&2
    fi
    log "building (Release) in $build"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCONCERT_BUILD_TESTS=OFF >/dev/null
    targets=(concertd concert-bench-bare-http)
    [ "$run_lib" = 1 ] && targets+=(concert-bench)
    [ "$run_ceiling" = 1 ] && targets+=(concert-bench-pg-joins concert-bench-pg-holds)
    [ "$run_queue" = 1 ] && targets+=(concert-bench)
    [ "$run_http" = 1 ] && want sse && targets+=(concert-bench-sse)
    cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null
fi

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
    rm -f "$out"/http-*.db "$out"/http-*.db-wal "$out"/http-*.db-shm
}
trap cleanup EXIT

parts=()
[ "$run_lib" = 1 ] && parts+=(lib)
[ "$run_ceiling" = 1 ] && parts+=(pg)
if [ "$run_http" = 1 ]; then
    for p in $all_parts; do want "$p" && parts+=("http:$p"); done
fi
[ "$run_queue" = 1 ] && parts+=(queue)
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "memory_mib=$(awk '/MemTotal/ {printf "%d", $2 / 1024}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
    # With --no-build the binaries may be older than the tree: say when
    # they were built.
    [ "$do_build" = 1 ] || echo "prebuilt=$(date -u -r "$bin/concertd" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo missing)"
    echo "command=$invocation"
    echo "wrk=$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "duration_s=$dur"
    echo "parts=$(IFS=,; echo "${parts[*]}")"
    echo "http_stores=$(IFS=,; echo "${stores[*]}")"
    echo "compare=$compare"
    echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.env"

pg_bindir=""
if [ "$need_pg" = 1 ]; then
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
if [ "$run_ceiling" = 1 ]; then
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
# start_server, stop_server, issue_tokens, wait_idle, the CPU readers:
# shared with scripts/bench-queue.sh.
# shellcheck source=bench/http/lib.sh
. bench/http/lib.sh

# pg_store NAME: a fresh database on the throwaway server (dropped first if
# a run left it); prints its store URI.
pg_store() {
    PGOPTIONS="-c client_min_messages=warning" "$pg_bindir/psql" -X -q -v ON_ERROR_STOP=1 "$conninfo" \
        -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >&2
    echo "$conninfo dbname=$1"
}

# store_uri STORE PHASE: where concertd keeps that store for that phase
# (a new database or file each time).
store_uri() {
    case "$1" in
    memory) echo "memory:" ;;
    sqlite) rm -f "$out/http-$2.db"*; echo "sqlite:$out/http-$2.db" ;;
    postgresql) pg_store "concert_http_$2" ;;
    esac
}

# run_wrk PHASE ENDPOINT SERVER CONNS REP PORT SCRIPT ARGS...: one bounded
# run; appends a line to http.tsv (or $wrk_tsv) with the load average at its
# start.
run_wrk() {
    local phase=$1 endpoint=$2 server=$3 conns=$4 rep=$5 port=$6 script=$7; shift 7
    local logf="$out/wrk.$endpoint.$server.$conns.$rep.log" result load
    wait_idle "$port"
    load=$(cut -d' ' -f1 /proc/loadavg)
    wrk -t 2 -c "$conns" -d "${dur}s" --timeout 5s -s "bench/http/$script" \
        "http://127.0.0.1:$port" -- "$@" >"$logf" 2>&1 || true
    result="$(wrk_result "$logf") load1=$load"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$endpoint" "$server" "$conns" "$rep" \
        "$result" >>"${wrk_tsv:-$out/http.tsv}"
    echo "$endpoint $server c=$conns rep=$rep: $result" >&2
}

# capture NAME CURL_ARGS...: concertd's reply to one request, as the bare
# server will send it: body in body_NAME.json, headers in head_NAME.txt.
capture() {
    local name=$1; shift
    : >"$out/body_$name.json" # curl writes no file for an empty body (a 304)
    curl -s -D "$out/head_$name.txt" -o "$out/body_$name.json" "$@"
}

# same_reply NAME PORT PATH CURL_ARGS...: does the bare server on PORT
# answer this request with concertd's captured bytes (body, and headers but
# Date)? The comparison is only fair if it does.
same_reply() {
    local name=$1 port=$2 path=$3; shift 3
    : >"$out/bare_body_$name.json"
    curl -s -D "$out/bare_head_$name.txt" -o "$out/bare_body_$name.json" "$@" \
        "http://127.0.0.1:$port$path"
    if ! cmp -s "$out/body_$name.json" "$out/bare_body_$name.json" ||
        ! diff <(grep -iv '^date:' "$out/head_$name.txt" | sort) \
               <(grep -iv '^date:' "$out/bare_head_$name.txt" | sort) >&2; then
        echo "bench.sh: the bare server's $name reply differs from concertd's" \
             "(see $out/*_$name.*)" >&2
        exit 1
    fi
}

# etag_of HEADERS_FILE: the ETag a reply carried, or nothing.
etag_of() {
    sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1/p' "$1" | head -1
}

# flow_stride STORE: seats each wrk thread may take in one flow run. The
# flow never reuses a seat: a run must not get through its slice. Memory
# makes about 5,000 flows/s at most here, the durable stores about 1,000.
flow_stride() {
    case "$1" in
    memory|sqlite) echo 200000 ;;
    *) echo 50000 ;;
    esac
}

if [ "$run_http" = 1 ]; then
    : >"$out/http.tsv"
    wrk_threads=2
    conn_list=(64 1000)
    runs=$(( ${#conn_list[@]} * http_reps ))
    booking_users=100000
    # The booking catalogs: schedule 1 (1,000 seats) for the listing, and
    # enough 100,000-seat schedules for every flow run of a server.
    # catalog_for STORE: its file (written once per stride).
    catalog_for() {
        local stride flow_runs=0 n f
        stride=$(flow_stride "$1")
        if want flow; then flow_runs=$runs; fi
        # flow-pg: its repetitions and the profiled run, on each set-up's database.
        if [ "$1" = postgresql ] && want flow-pg && [ "$((http_reps + 1))" -gt "$flow_runs" ]; then
            flow_runs=$((http_reps + 1))
        fi
        n=$(( (flow_runs * wrk_threads * stride + 99999) / 100000 ))
        # One more than the flow needs: the reservation and payment the bare
        # server's replies are captured from take a seat no run reaches.
        n=$((n + 1))
        f=$out/booking_catalog.$n.json
        [ -s "$f" ] || bench/http/make_catalog.sh booking "$booking_users" "$n" >"$f"
        echo "$f"
    }
    first_store=${stores[0]:-}

    # ---- queue phase: max_active 1,000, so joins and polls are of waiting tokens
    if [ -n "$first_store" ] && { want issue || want status; }; then
        bench/http/make_catalog.sh queue "$queue_users" >"$out/queue_catalog.json"
    fi
    for store in "${stores[@]}"; do
        want issue || want status || break
        log "HTTP queue phase, $store store (importing $queue_users users)"
        uri=$(store_uri "$store" queue)
        start_server "concertd-queue-$store" "$bin/concertd" --store "$uri" \
            --listen 127.0.0.1:0 --max-active 1000 --active-ttl 36000 --wait-ttl 36000 \
            --import "$out/queue_catalog.json"
        cd_pid=$server_pid cd_port=$server_port
        issue_tokens "$cd_port" 1 1000 "$out/active_q.tokens"
        issue_tokens "$cd_port" 1001 2000 "$out/waiting.tokens"
        with_bare=0
        if [ "$store" = "$first_store" ]; then
            # The bytes concertd sends, for the bare server to send too.
            with_bare=1
            capture issue -XPOST -H 'Content-Type: application/json' \
                -d "{\"user_id\":$queue_users}" "http://127.0.0.1:$cd_port/api/v1/queue/tokens"
            capture status -H "Authorization: Bearer $(head -1 "$out/waiting.tokens")" \
                "http://127.0.0.1:$cd_port/api/v1/queue/tokens/current"
            start_server bare-queue "$bin/concert-bench-bare-http" --port 0 \
                --route /api/v1/queue/tokens 201 "$out/body_issue.json" \
                --headers "$out/head_issue.txt" \
                --route /api/v1/queue/tokens/current 200 "$out/body_status.json" \
                --headers "$out/head_status.txt"
            bare_pid=$server_pid bare_port=$server_port
            same_reply status "$bare_port" /api/v1/queue/tokens/current
        fi
        issue_first=3001
        per_run=$(( (queue_users - issue_first) / runs ))
        k=0
        for conns in "${conn_list[@]}"; do
            for rep in $(seq 1 "$http_reps"); do
                first=$(( issue_first + k * per_run ))
                if want issue; then
                    run_wrk queue issue "concertd-$store" "$conns" "$rep" "$cd_port" issue.lua \
                        "$first" "$per_run" "$wrk_threads"
                    [ "$with_bare" = 1 ] && run_wrk queue issue bare "$conns" "$rep" \
                        "$bare_port" issue.lua "$first" "$per_run" "$wrk_threads"
                fi
                if want status; then
                    run_wrk queue status "concertd-$store" "$conns" "$rep" "$cd_port" status.lua \
                        "$out/waiting.tokens"
                    [ "$with_bare" = 1 ] && run_wrk queue status bare "$conns" "$rep" \
                        "$bare_port" status.lua "$out/waiting.tokens"
                fi
                k=$((k + 1))
            done
        done
        stop_server "$cd_pid"
        [ "$with_bare" = 1 ] && stop_server "$bare_pid"
    done

    with_inm=0
    # ---- booking phase: max_active 100,000, every buyer admitted at once
    for store in "${stores[@]}"; do
        want seats || want flow || break
        catalog=$(catalog_for "$store")
        stride=$(flow_stride "$store")
        log "HTTP booking phase, $store store ($booking_users users, $(basename "$catalog"))"
        uri=$(store_uri "$store" booking)
        start_server "concertd-booking-$store" "$bin/concertd" --store "$uri" \
            --listen 127.0.0.1:0 --max-active 100000 --active-ttl 36000 --hold-ttl 36000 \
            --import "$catalog"
        cd_pid=$server_pid cd_port=$server_port
        issue_tokens "$cd_port" 1 1000 "$out/active.tokens"
        with_bare=0
        if [ "$store" = "$first_store" ]; then
            with_bare=1
            auth=(-H "Authorization: Bearer $(head -1 "$out/active.tokens")")
            seats_url=http://127.0.0.1:$cd_port/api/v1/schedules/1/seats
            capture seats "${auth[@]}" "$seats_url"
            etag=$(etag_of "$out/head_seats.txt")
            seats_routes=(--route /api/v1/schedules/ 200 "$out/body_seats.json"
                          --headers "$out/head_seats.txt")
            if [ -n "$etag" ]; then
                capture seats_304 "${auth[@]}" -H "If-None-Match: $etag" "$seats_url"
                if ! head -1 "$out/head_seats_304.txt" | grep -q '^HTTP/[0-9.]* 304'; then
                    echo "bench.sh: concertd answered If-None-Match: $etag with" \
                         "$(head -1 "$out/head_seats_304.txt")" >&2
                    exit 1
                fi
                seats_routes+=(--route /api/v1/schedules/ 304 "$out/body_seats_304.json"
                               --headers "$out/head_seats_304.txt" --when If-None-Match "$etag")
            else
                log "concertd sends no ETag with the seat list: seats-inm is not measured"
            fi
            issue_tokens "$cd_port" "$booking_users" 1 "$out/capture.tokens"
            tok=$(head -1 "$out/capture.tokens")
            capture issue_active -XPOST -H 'Content-Type: application/json' \
                -d "{\"user_id\":$booking_users}" "http://127.0.0.1:$cd_port/api/v1/queue/tokens"
            # The last seat of the last schedule: no flow run gets that far.
            last_schedule=$(grep -o '"id":[0-9]*,"starts_at"' "$catalog" | wc -l)
            capture reserve -XPOST -H 'Content-Type: application/json' \
                -H "Authorization: Bearer $tok" \
                -d "{\"schedule_id\":$last_schedule,\"seat_number\":100000}" \
                "http://127.0.0.1:$cd_port/api/v1/reservations"
            rid=$(grep -o '"id":[0-9]*' "$out/body_reserve.json" | head -1 | cut -d: -f2)
            capture pay -XPOST -H 'Content-Type: application/json' -H "Authorization: Bearer $tok" \
                -d "{\"reservation_id\":$rid}" "http://127.0.0.1:$cd_port/api/v1/payments"
            start_server bare-booking "$bin/concert-bench-bare-http" --port 0 \
                "${seats_routes[@]}" \
                --route /api/v1/queue/tokens 201 "$out/body_issue_active.json" \
                --headers "$out/head_issue_active.txt" \
                --route /api/v1/reservations 201 "$out/body_reserve.json" \
                --headers "$out/head_reserve.txt" \
                --route /api/v1/payments 201 "$out/body_pay.json" --headers "$out/head_pay.txt"
            bare_pid=$server_pid bare_port=$server_port
            same_reply seats "$bare_port" /api/v1/schedules/1/seats
            [ -z "$etag" ] || same_reply seats_304 "$bare_port" /api/v1/schedules/1/seats \
                -H "If-None-Match: $etag"
            with_inm=0
            [ -z "$etag" ] || with_inm=1
        fi
        flow_first_user=2001
        flow_users=$(( (booking_users - flow_first_user) / runs ))
        k=0
        for conns in "${conn_list[@]}"; do
            for rep in $(seq 1 "$http_reps"); do
                if want seats; then
                    run_wrk booking seats "concertd-$store" "$conns" "$rep" "$cd_port" seats.lua \
                        "$out/active.tokens" 1
                    [ "$with_bare" = 1 ] && run_wrk booking seats bare "$conns" "$rep" \
                        "$bare_port" seats.lua "$out/active.tokens" 1
                    if [ "$with_inm" = 1 ]; then
                        run_wrk booking seats-inm "concertd-$store" "$conns" "$rep" "$cd_port" \
                            seats_inm.lua "$out/active.tokens" 1
                        [ "$with_bare" = 1 ] && run_wrk booking seats-inm bare "$conns" "$rep" \
                            "$bare_port" seats_inm.lua "$out/active.tokens" 1
                    fi
                fi
                if want flow; then
                    flow_args=("$((flow_first_user + k * flow_users))" "$flow_users" "$wrk_threads"
                               "$((k * wrk_threads * stride))" "$stride" 2 100000)
                    run_wrk booking flow "concertd-$store" "$conns" "$rep" "$cd_port" flow.lua \
                        "${flow_args[@]}"
                    [ "$with_bare" = 1 ] && run_wrk booking flow bare "$conns" "$rep" \
                        "$bare_port" flow.lua "${flow_args[@]}"
                fi
                k=$((k + 1))
            done
        done
        stop_server "$cd_pid"
        [ "$with_bare" = 1 ] && stop_server "$bare_pid"
        rm -f "$out/http-booking.db"*
    done
fi

# ---------------------------------------------------------------- 3b. flow-pg
# The flow on PostgreSQL through 1 and through 2 concertd processes sharing
# one port (--reuse-port: the kernel spreads wrk's connections) and one
# database (a fresh one per set-up), 64 connections, wrk -t2; the two
# set-ups run alternately, each once per repetition. Around each run: the
# CPU each group used (/proc/PID/stat: the concertd processes, the
# PostgreSQL server's processes; bash's `times` for wrk) and the whole
# machine's (/proc/stat), so the table says where the 2 cores went.

# flow_pg_args REP: flow.lua's arguments for repetition REP (1, 2, ...):
# users and seats of the set-up's own database, a slice per repetition.
flow_pg_args() {
    local k=$(($1 - 1)) stride
    stride=$(flow_stride postgresql)
    echo "$((2001 + k * mp_users)) $mp_users 2 $((k * 2 * stride)) $stride 2 100000"
}

# run_flow_pg N REP PORT "CONCERTD_PIDS": one run, a line to http.tsv.
run_flow_pg() {
    local n=$1 rep=$2 port=$3 cd_pids=$4 server="concertd-postgresql-x$1"
    local logf="$out/wrk.flow-pg.$server.64.$rep.log" args
    local pg_pids m0 m1 w0 w1 load p t0=() cd_cpu="" cd_sum=0 pg1=0
    declare -A pg_at
    read -r -a args <<<"$(flow_pg_args "$rep")"
    wait_idle "$port"
    load=$(cut -d' ' -f1 /proc/loadavg)
    # Backends come and go with connections: count each from its first sight.
    pg_pids=$(pg_server_pids "$pg_conninfo_file.server")
    for p in $pg_pids; do pg_at[$p]=$(proc_cpu_ms "$p"); done
    for p in $cd_pids; do t0+=("$(proc_cpu_ms "$p")"); done
    m0=$(machine_cpu_ms)
    children_cpu_ms w0
    wrk -t 2 -c 64 -d "${dur}s" --timeout 5s -s bench/http/flow.lua \
        "http://127.0.0.1:$port" -- "${args[@]}" >"$logf" 2>&1 || true
    children_cpu_ms w1
    m1=$(machine_cpu_ms)
    local i=0
    for p in $cd_pids; do
        t=$(( $(proc_cpu_ms "$p") - t0[i] ))
        cd_cpu+="${cd_cpu:+/}$t" cd_sum=$((cd_sum + t)) i=$((i + 1))
    done
    for p in $(pg_server_pids "$pg_conninfo_file.server"); do
        pg1=$((pg1 + $(proc_cpu_ms "$p") - ${pg_at[$p]:-0}))
    done
    local busy=$(( ${m1% *} - ${m0% *} )) total=$(( ${m1#* } - ${m0#* } ))
    local result
    result="$(wrk_result "$logf") load1=$load processes=$n cpu_concertd_ms=$cd_sum"
    result+=" cpu_concertd_each_ms=$cd_cpu cpu_postgres_ms=$pg1 cpu_wrk_ms=$((w1 - w0))"
    result+=" cpu_busy_ms=$busy cpu_total_ms=$total"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' multi flow-pg "$server" 64 "$rep" "$result" >>"$out/http.tsv"
    echo "flow-pg $server rep=$rep: $result" >&2
}

if [ "$run_http" = 1 ] && want flow-pg; then
    catalog=$(catalog_for postgresql)
    mp_users=$(( (booking_users - 2001) / (http_reps + 1) ))
    log "flow-pg: 1 concertd on PostgreSQL ($(basename "$catalog"))"
    uri1=$(store_uri postgresql mp1)
    port1=$(free_port)
    start_server concertd-mp1 "$bin/concertd" --store "$uri1" --listen "127.0.0.1:$port1" \
        --reuse-port --max-active 100000 --active-ttl 36000 --hold-ttl 36000 --import "$catalog"
    mp1_pids=$server_pid
    log "flow-pg: 2 concertd on one PostgreSQL database, one port"
    uri2=$(store_uri postgresql mp2)
    port2=$(free_port)
    start_server concertd-mp2a "$bin/concertd" --store "$uri2" --listen "127.0.0.1:$port2" \
        --reuse-port --max-active 100000 --active-ttl 36000 --hold-ttl 36000 --import "$catalog"
    mp2_pids=$server_pid
    # The second process: same store, same port, no import (the first did it).
    start_server concertd-mp2b "$bin/concertd" --store "$uri2" --listen "127.0.0.1:$port2" \
        --reuse-port --max-active 100000 --active-ttl 36000 --hold-ttl 36000
    mp2_pids+=" $server_pid"
    for rep in $(seq 1 "$http_reps"); do
        # Alternate which set-up goes first: drift in the machine's load
        # then hits both alike.
        if [ $((rep % 2)) = 1 ]; then
            run_flow_pg 1 "$rep" "$port1" "$mp1_pids"
            run_flow_pg 2 "$rep" "$port2" "$mp2_pids"
        else
            run_flow_pg 2 "$rep" "$port2" "$mp2_pids"
            run_flow_pg 1 "$rep" "$port1" "$mp1_pids"
        fi
    done
    # Where the time goes with 2 processes, by command and binary: one more
    # run of the 2-process set-up under `perf record -a` (sampling costs a
    # few percent, so it is not one of the measured runs).
    if command -v perf >/dev/null; then
        log "flow-pg: profiling a run of 2 concertd (perf record -a)"
        read -r -a args <<<"$(flow_pg_args $((http_reps + 1)))"
        wait_idle "$port2"
        if perf record -a -F 499 -o "$out/perf.flow-pg.data" -- \
                wrk -t 2 -c 64 -d "${dur}s" --timeout 5s -s bench/http/flow.lua \
                "http://127.0.0.1:$port2" -- "${args[@]}" >"$out/wrk.flow-pg.profile.log" \
                2>"$out/perf.flow-pg.err"; then
            # Samples by thread and binary, each thread put in its group:
            # this bench's concertd (their threads) and PostgreSQL server,
            # wrk, and everything else on the machine ("other").
            { for p in $mp2_pids; do
                  for t in /proc/"$p"/task/*; do echo "${t##*/} concertd"; done
              done
              for p in $(pg_server_pids "$pg_conninfo_file.server"); do echo "$p postgres"; done
            } >"$out/perf.flow-pg.groups"
            perf report -i "$out/perf.flow-pg.data" --no-children --sort pid,dso --stdio -g none \
                2>/dev/null | grep -v '^#' | grep '%' >"$out/perf.flow-pg.report" || true
            awk 'NR == FNR { group[$1] = $2; next }
                 { pct = $1; sub("%", "", pct); split($2, t, ":");
                   g = (t[1] in group) ? group[t[1]] : (t[2] == "wrk" ? "wrk" : "other");
                   dso = $3; for (i = 4; i <= NF; i++) dso = dso " " $i;
                   if (g == "other") dso = t[2]; # by command: whose work it was
                   sum[g "\t" dso] += pct }
                 END { for (k in sum) printf "%.2f\t%s\n", sum[k], k }' \
                "$out/perf.flow-pg.groups" "$out/perf.flow-pg.report" | sort -rn \
                >"$out/perf_flow_pg.tsv"
            echo "flow-pg profile: $(wrk_result "$out/wrk.flow-pg.profile.log")" >&2
        else
            echo "bench.sh: perf record failed (see $out/perf.flow-pg.err): no profile" >&2
        fi
        rm -f "$out/perf.flow-pg.data" "$out/perf.flow-pg.report"
    else
        log "flow-pg: no perf (apt-get install linux-perf): no profile"
    fi
    for p in $mp1_pids $mp2_pids; do stop_server "$p"; done
fi
# ---------------------------------------------------------------- 3c. issue 13
# sse: concert-bench-sse opens the subscribers on one concertd (memory store)
# whose first SEAT_SUBS + TRIGGERS + 1 users are ACTIVE (seat streams need an
# ACTIVE token; TRIGGERS buyers leave to admit the queue's head; one holds and
# releases a seat), the rest WAITING; see bench/sse/main.c. Its wrk runs poll
# GET /api/v1/queue/tokens/current (bench/http/status.lua) with and without
# the subscribers, alternating.
if [ "$run_http" = 1 ] && want sse; then
    sse_subs=5000 sse_seat_subs=500 sse_triggers=5 sse_pollers=1000
    sse_reps=5 sse_quiet=10
    [ "$quick" = 1 ] && sse_reps=2 sse_quiet=5
    sse_users=$((sse_subs + sse_triggers + 1 + sse_pollers))
    bench/http/make_catalog.sh booking "$sse_users" 0 >"$out/sse_catalog.json"
    log "sse: $sse_subs subscribers ($sse_seat_subs on seats) on one concertd, memory store"
    start_server concertd-sse "$bin/concertd" --store memory: --listen 127.0.0.1:0 \
        --max-active "$((sse_seat_subs + sse_triggers + 1))" --active-ttl 36000 \
        --wait-ttl 36000 --hold-ttl 36000 --import "$out/sse_catalog.json"
    sse_pid=$server_pid sse_port=$server_port
    rm -f "$out/sse.json"
    "$bin/concert-bench-sse" --port "$sse_port" --pid "$sse_pid" --subscribers "$sse_subs" \
        --seat-subscribers "$sse_seat_subs" --triggers "$sse_triggers" --pollers "$sse_pollers" \
        --quiet "$sse_quiet" --reps "$sse_reps" --duration "$dur" --wrk-conns 64 \
        --wrk-script bench/http/status.lua --out "$out" --json "$out/sse.json" \
        | tee "$out/sse.txt" >&2 || echo "bench.sh: concert-bench-sse failed" >&2
    stop_server "$sse_pid"
fi

# metrics: what /metrics and the access log cost, on the seat listing (the
# seats part's request: 1,000 free seats, 64 connections): one concertd with
# both on (metrics recorded per request, the text log written to a file) and
# one with --no-metrics --log-format off, and one with metrics but
# --log-format off (which of the two costs what); same catalog, all running,
# measured in rotating order so that drift in the machine's load hits them
# alike; /metrics is scraped once a second during the runs of those with it.
if [ "$run_http" = 1 ] && want metrics; then
    m_reps=5
    [ "$quick" = 1 ] && m_reps=2
    bench/http/make_catalog.sh booking 2000 0 >"$out/metrics_catalog.json"
    m_flags=(--store memory: --listen 127.0.0.1:0 --max-active 100000 --active-ttl 36000
             --hold-ttl 36000 --import "$out/metrics_catalog.json")
    log "metrics: seat listing with /metrics and the text log to a file, and with both off"
    rm -f "$out/metrics-on.access.log"
    server_log=$out/metrics-on.access.log
    start_server concertd-metrics-on "$bin/concertd" "${m_flags[@]}" --log-format text
    on_pid=$server_pid on_port=$server_port
    server_log=""
    start_server concertd-metrics-off "$bin/concertd" "${m_flags[@]}" --no-metrics --log-format off
    off_pid=$server_pid off_port=$server_port
    # A third with metrics but no log: which of the two costs what.
    start_server concertd-metrics-only "$bin/concertd" "${m_flags[@]}" --log-format off
    only_pid=$server_pid only_port=$server_port
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$on_port/metrics")" != 200 ] ||
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$off_port/metrics")" != 404 ]; then
        echo "bench.sh: metrics: /metrics should answer 200 on one server and 404 on the other" >&2
        exit 1
    fi
    issue_tokens "$on_port" 1 1000 "$out/metrics-on.tokens"
    issue_tokens "$off_port" 1 1000 "$out/metrics-off.tokens"
    issue_tokens "$only_port" 1 1000 "$out/metrics-only.tokens"
    : >"$out/metrics.tsv"
    wrk_tsv=$out/metrics.tsv
    for rep in $(seq 1 "$m_reps"); do
        case $((rep % 3)) in
        1) order="on off only" ;;
        2) order="off only on" ;;
        *) order="only on off" ;;
        esac
        for side in $order; do
            case $side in
            on) port=$on_port pid=$on_pid ;;
            off) port=$off_port pid=$off_pid ;;
            only) port=$only_port pid=$only_pid ;;
            esac
            log_before=$(stat -c %s "$out/metrics-on.access.log")
            cpu_before=$(proc_cpu_ms "$pid")
            scraper=""
            if [ "$side" != off ]; then
                # Scraped once a second meanwhile, as a (busy) Prometheus would.
                while sleep 1; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; done &
                scraper=$!
            fi
            run_wrk metrics seats "metrics-$side" 64 "$rep" "$port" seats.lua \
                "$out/metrics-$side.tokens" 1
            if [ -n "$scraper" ]; then kill "$scraper"; wait "$scraper" 2>/dev/null || true; fi
            # The server's CPU for the run (req/s on this shared machine
            # move with other people's load; CPU per request much less),
            # and how much of the access log it wrote (0 for the others).
            log_after=$(stat -c %s "$out/metrics-on.access.log")
            sed -i "\$s/\$/ cpu_ms=$(($(proc_cpu_ms "$pid") - cpu_before)) log_bytes=$((log_after - log_before))/" \
                "$out/metrics.tsv"
        done
    done
    wrk_tsv=""
    # What the metrics-on server counted (a check that it recorded the runs).
    curl -s "http://127.0.0.1:$on_port/metrics" >"$out/metrics-on.scrape.txt"
    echo "metrics_log_lines=$(wc -l <"$out/metrics-on.access.log")" >>"$out/machine.env"
    stop_server "$on_pid"
    stop_server "$off_pid"
    stop_server "$only_pid"
    rm -f "$out/metrics-on.access.log"
fi
echo "load_end_http=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.env"

# ---------------------------------------------------------------- 4. waiting room
if [ "$run_queue" = 1 ]; then
    queue_flags=(--no-build --build "$build" --out "$out/queue")
    [ "$quick" = 1 ] && queue_flags+=(--quick)
    [ "$run_lib" = 1 ] || queue_flags+=(--no-lib)
    [ "$run_http" = 1 ] || queue_flags+=(--no-http --no-stampede)
    [ "$run_pg" = 1 ] || queue_flags+=(--no-pg)
    log "the waiting room: scripts/bench-queue.sh ${queue_flags[*]}"
    scripts/bench-queue.sh "${queue_flags[@]}" >"$out/queue.txt"
fi

# ---------------------------------------------------------------- summary
log "summary"
summary_flags=()
[ -z "$compare" ] || summary_flags=(--compare "$compare")
{
    /usr/bin/python3 bench/summary.py "${summary_flags[@]}" "$out"
    [ "$run_queue" = 0 ] || cat "$out/queue/results.md"
} | tee "$out/results.md"
echo "bench.sh: results in $out/results.md" >&2
