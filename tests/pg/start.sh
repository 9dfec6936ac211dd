#!/bin/sh
# Start a throwaway PostgreSQL server for the tests and write its libpq
# conninfo to the file named by $1 (e.g. build/pg/conninfo).
#
# The cluster lives in a fresh temporary directory (data, unix socket and
# log), listens on the socket and on a free TCP port of 127.0.0.1, trusts
# local connections and runs with fsync off: it is for tests only. When run
# as root it runs as the unprivileged user "nobody", because PostgreSQL
# refuses to run as root. stop.sh stops it and removes the directory;
# ctl.sh stops and starts it again (for restart tests).
#
# Exit 77 (ctest SKIP_RETURN_CODE) when CONCERT_SKIP_POSTGRES=1.
set -eu

if [ "${CONCERT_SKIP_POSTGRES:-0}" = "1" ]; then
    echo "SKIP: PostgreSQL tests skipped because CONCERT_SKIP_POSTGRES=1"
    exit 77
fi
if [ $# -ne 1 ]; then
    echo "usage: $0 CONNINFO_FILE" >&2
    exit 2
fi
conninfo_file=$1
state_dir=$(dirname "$conninfo_file")
mkdir -p "$state_dir"
state_dir=$(cd "$state_dir" && pwd)
state_file="$state_dir/$(basename "$conninfo_file").server"

# The newest installed major version.
bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
        bindir=$d
    fi
done
if [ -z "$bindir" ]; then
    echo "error: PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin." >&2
    echo "Install the Debian package: apt-get install postgresql (e.g. postgresql-15)," >&2
    echo "or set CONCERT_SKIP_POSTGRES=1 to skip the PostgreSQL tests." >&2
    exit 1
fi

# A server left over from an interrupted run is stopped first.
if [ -f "$state_file" ]; then
    "$(dirname "$0")/stop.sh" "$conninfo_file" || true
fi

# The socket path must stay short (108 bytes), so not under the build tree.
dir=$(mktemp -d /tmp/concert-pg.XXXXXX)
run_as=""
if [ "$(id -u)" = "0" ]; then
    run_as=nobody
    chown "$run_as" "$dir"
fi
as_server_user() {
    if [ -n "$run_as" ]; then
        runuser -u "$run_as" -- "$@"
    else
        "$@"
    fi
}

if ! as_server_user "$bindir/initdb" -D "$dir/data" -U concert -A trust -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1; then
    echo "error: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    exit 1
fi

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

started=0
for attempt in 1 2 3 4 5; do
    port=$(free_port)
    pgopts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off \
-c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB"
    if as_server_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "$pgopts" start >/dev/null 2>&1; then
        started=1
        break
    fi
done
if [ "$started" != "1" ]; then
    echo "error: the test PostgreSQL server did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    rm -rf "$dir"
    exit 1
fi

# What stop.sh and the tests' restart helper need.
{
    echo "dir=$dir"
    echo "bindir=$bindir"
    echo "run_as=$run_as"
    echo "port=$port"
    echo "pgopts=$pgopts"
} >"$state_file"
echo "host=$dir port=$port user=concert dbname=postgres" >"$conninfo_file"
echo "host=127.0.0.1 port=$port user=concert dbname=postgres" >"$conninfo_file.tcp"
echo "PostgreSQL ($bindir) running in $dir on port $port; conninfo in $conninfo_file"
