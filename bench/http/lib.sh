# shellcheck shell=bash
# Shell helpers for the HTTP benchmarks (sourced by scripts/bench-queue.sh).
# The caller sets $out (a results directory) and an array pids=() that its
# EXIT trap kills; every server started here is added to it.

# start_server LOGNAME CMD... : start in the background, wait for its
# "listening on http://127.0.0.1:PORT" line, set $server_pid and $server_port.
# With $server_log set, its stderr (the access log) goes whole to that file.
start_server() {
    local name=$1; shift
    # Made here, not by the server's redirection: the loop below may read
    # it before the background job has opened it.
    : >"$out/$name.out"
    if [ -n "${server_log:-}" ]; then
        "$@" >"$out/$name.out" 2>>"$server_log" &
    else
        # concertd logs a line per request: keep the first 64 KiB (start-up
        # messages and the first requests), drop the rest.
        "$@" >"$out/$name.out" 2> >(head -c 65536 >"$out/$name.err") &
    fi
    server_pid=$!
    pids+=("$server_pid")
    for _ in $(seq 1 600); do
        server_port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$out/$name.out")
        [ -n "$server_port" ] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.5
    done
    echo "bench: $name did not start:" >&2
    cat "$out/$name.out" "$out/$name.err" >&2 || true
    exit 1
}

stop_server() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# issue_tokens PORT FIRST COUNT FILE: join the queue for users FIRST.. with
# one keep-alive curl; the tokens, one a line, go to FILE.
issue_tokens() {
    local port=$1 first=$2 count=$3 file=$4 cfg
    cfg=$(mktemp)
    awk -v p="$port" -v f="$first" -v n="$count" 'BEGIN {
        for (u = f; u < f + n; u++) {
            printf "url = \"http://127.0.0.1:%d/api/v1/queue/tokens\"\n", p;
            printf "data = \"{\\\"user_id\\\":%d}\"\n", u;
            printf "header = \"Content-Type: application/json\"\n";
            printf "write-out = \"\\\\n\"\n";
            if (u < f + n - 1) print "next" } }' >"$cfg"
    curl -s -K "$cfg" | grep -o '"token":"[^"]*"' | cut -d'"' -f4 >"$file"
    rm -f "$cfg"
    if [ "$(wc -l <"$file")" -ne "$count" ]; then
        echo "bench: issued $(wc -l <"$file") of $count tokens on port $port" >&2
        exit 1
    fi
}

# wait_idle PORT: when wrk stops, the server still owes answers to the
# requests in flight; the next run must not start before they are drained,
# or it measures the backlog.
wait_idle() {
    local t
    for _ in $(seq 1 120); do
        t=$(curl -s -o /dev/null -m 5 -w '%{time_total}' "http://127.0.0.1:$1/healthz" || echo 9)
        awk -v t="$t" 'BEGIN { exit !(t < 0.02) }' && return 0
        sleep 0.5
    done
    echo "bench: server on port $1 still busy after 60 s" >&2
}

# wrk_result LOGFILE: the key=value pairs of wrk's WRK_RESULT line, or
# "failed=1" when wrk printed none.
wrk_result() {
    local line
    line=$(grep '^WRK_RESULT' "$1" | head -1 || true)
    if [ -z "$line" ]; then
        echo "bench: wrk gave no result, see $1" >&2
        echo "failed=1"
    else
        echo "${line#WRK_RESULT }"
    fi
}

# proc_cpu_ms PID...: user + system CPU time of the processes (all their
# threads), in ms; processes that are gone count 0. The figure the load of
# other processes does not inflate, unlike req/s on a shared machine.
proc_cpu_ms() {
    local tck total=0 p t
    tck=$(getconf CLK_TCK)
    for p in "$@"; do
        # Fields after the ")" that closes the command name: utime is the
        # 12th, stime the 13th.
        t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
        total=$((total + ${t:-0}))
    done
    echo $((total * 1000 / tck))
}

# pg_server_pids STATE_FILE: the postmaster of a tests/pg/start.sh server
# (STATE_FILE is its conninfo file's ".server") and its children.
pg_server_pids() {
    local dir pm
    dir=$(sed -n 's/^dir=//p' "$1")
    pm=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null) || return 0
    echo "$pm"
    ps -o pid= --ppid "$pm" 2>/dev/null || true
}

# machine_cpu_ms: "BUSY TOTAL" CPU time of the whole machine since boot, in
# ms summed over all CPUs (/proc/stat; busy is everything but idle and
# iowait). The difference of two readings is what every process, ours or
# not, used in between, against what the CPUs could have given.
machine_cpu_ms() {
    local tck
    tck=$(getconf CLK_TCK)
    awk -v tck="$tck" '/^cpu / {
        busy = $2 + $3 + $4 + $7 + $8 + $9; total = busy + $5 + $6;
        printf "%d %d\n", busy * 1000 / tck, total * 1000 / tck; exit }' /proc/stat
}

# children_cpu_ms VAR: set VAR to the user + system CPU of this shell's
# waited-for children (bash's `times`), in ms: read around a foreground
# command, that command's CPU, which /proc no longer shows once it exited.
# Not a $( ) of its own: a forked shell has no children of its own.
children_cpu_ms() {
    times >"$out/.times"
    printf -v "$1" '%s' "$(awk 'NR == 2 {
        n = split($1 " " $2, t, " "); ms = 0;
        for (i = 1; i <= n; i++) { split(t[i], p, "m"); sub("s", "", p[2]); ms += p[1] * 60000 + p[2] * 1000 }
        printf "%d\n", ms }' "$out/.times")"
}

# free_port: a TCP port of 127.0.0.1 free right now (for servers that must
# share one port, which port 0 cannot give them).
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
