#!/bin/sh
# Stop or start again the server that start.sh made for CONNINFO_FILE,
# keeping its data, port and socket: for tests of restarts and outages.
#   ctl.sh CONNINFO_FILE stop|start|restart
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 CONNINFO_FILE stop|start|restart" >&2
    exit 2
fi
state_file="$(dirname "$1")/$(basename "$1").server"
if [ ! -f "$state_file" ]; then
    echo "error: no test server recorded in $state_file (run start.sh first)" >&2
    exit 1
fi
dir=$(sed -n 's/^dir=//p' "$state_file")
bindir=$(sed -n 's/^bindir=//p' "$state_file")
run_as=$(sed -n 's/^run_as=//p' "$state_file")
pgopts=$(sed -n 's/^pgopts=//p' "$state_file")
pg_ctl() {
    if [ -n "$run_as" ]; then
        runuser -u "$run_as" -- "$bindir/pg_ctl" "$@"
    else
        "$bindir/pg_ctl" "$@"
    fi
}
case "$2" in
    stop) pg_ctl -D "$dir/data" -m fast -w stop >/dev/null ;;
    start) pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$pgopts" start >/dev/null ;;
    restart) pg_ctl -D "$dir/data" -l "$dir/server.log" -m fast -w -t 30 -o "$pgopts" \
                 restart >/dev/null ;;
    *) echo "error: unknown action '$2'" >&2; exit 2 ;;
esac
