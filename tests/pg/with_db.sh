#!/bin/sh
# Run a program against a fresh, empty database on the test server:
#   with_db.sh CONNINFO_FILE PROGRAM [ARGS...]
# runs PROGRAM "<conninfo> dbname=<fresh>" ARGS... and drops the database
# afterwards, keeping the program's exit status.
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 CONNINFO_FILE PROGRAM [ARGS...]" >&2
    exit 2
fi
conninfo=$(head -n 1 "$1")
shift
program=$1
shift
db="concert_run_$$"
psql "$conninfo" -qAtc "CREATE DATABASE $db" >/dev/null
status=0
"$program" "$conninfo dbname=$db" "$@" || status=$?
psql "$conninfo" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
exit $status
