#!/bin/sh
# Stop the server started by start.sh for CONNINFO_FILE and remove its
# directory and the files start.sh wrote.
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
state_file="$(dirname "$conninfo_file")/$(basename "$conninfo_file").server"
if [ ! -f "$state_file" ]; then
    echo "no test PostgreSQL server recorded in $state_file: nothing to stop"
    exit 0
fi
dir=$(sed -n 's/^dir=//p' "$state_file")
bindir=$(sed -n 's/^bindir=//p' "$state_file")
run_as=$(sed -n 's/^run_as=//p' "$state_file")

case "$dir" in
    /tmp/concert-pg.*) ;;
    *) echo "error: refusing to remove unexpected directory '$dir'" >&2; exit 1 ;;
esac
if [ -d "$dir/data" ]; then
    if [ -n "$run_as" ]; then
        runuser -u "$run_as" -- "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop \
            >/dev/null 2>&1 || true
    else
        "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
fi
rm -rf "$dir"
rm -f "$state_file" "$conninfo_file" "$conninfo_file.tcp"
echo "test PostgreSQL server stopped and $dir removed"
