#!/bin/sh
# Run a session of concert CLI commands under valgrind memcheck on a
# temporary SQLite store: any memory error or leak fails (issue 7).
# Usage: valgrind_cli.sh CONCERT_BINARY CATALOG_DIR
set -u
cli=$1
corpus=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
store="sqlite:$dir/store.db"
failed=0
count=0

# run EXPECTED_STATUS ARGS...: the command must exit with EXPECTED_STATUS
# and valgrind must report nothing (its own exit status 99 otherwise).
run() {
    expected=$1
    shift
    count=$((count + 1))
    valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
        "$cli" --store "$store" "$@" >"$dir/out" 2>"$dir/err" </dev/null
    status=$?
    if [ "$status" -ne "$expected" ]; then
        echo "FAIL (exit $status, expected $expected): concert $*"
        cat "$dir/err"
        failed=$((failed + 1))
    fi
}

run 0 --help
run 2 balance x
run 0 import "$corpus/valid_issue_example.json" --json
run 1 import "$corpus/valid_issue_example.json"
run 1 import "$corpus/bad_status.json"
run 1 import "$corpus/semantic_overlap.json"
run 1 import "$dir/missing.json"
run 0 demo --json
run 0 concerts
run 0 users --json
run 0 charge 1 1000 --key k1
run 1 charge 1 5 --key k1
run 1 balance 404
run 0 history 1 --json
run 0 queue --json
run 0 queue
run 0 queue set --max-active 5 --admit-per-minute 60 --json
run 1 queue set --max-active -5
run 2 queue set --max-active abc
run 0 queue pause
run 0 queue resume --json
run 1 queue resume
run 0 queue close
run 0 queue schedule --opens-at 2099-01-01T00:00:00Z --json
run 1 queue schedule --opens-at 2020-01-01T00:00:00Z
run 2 queue schedule --opens-at soon
run 0 queue open
run 2 queue frob
run 0 verify
run 0 prune
run 0 --retention 3600 prune --limit 10 --json
run 2 prune --limit 0
run 1 --store "sqlite:$dir/no/such/dir.db" users

echo "$count commands under valgrind, $failed failed"
[ "$failed" -eq 0 ]
