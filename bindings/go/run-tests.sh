#!/bin/sh
# Checks for the Go binding, run by ctest (tests/go.cmake) or by hand:
#   run-tests.sh vet | test | race | readme | all | postgres
# The caller provides PKG_CONFIG_PATH (a libconcert.pc), and normally GOCACHE,
# GOPATH, GOFLAGS=-mod=mod, GOPROXY=off, GO111MODULE=on. CONCERT_GO_WORKDIR
# is scratch space for the README example (default: a temporary directory).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
mode=${1:-all}

run_vet() {
    echo "== go vet"
    go vet ./...
    unformatted=$(gofmt -l .)
    if [ -n "$unformatted" ]; then
        echo "gofmt: not formatted: $unformatted" >&2
        exit 1
    fi
}

run_test() {
    echo "== go test"
    go test -count=1 -timeout 300s ./...
}

run_race() {
    echo "== go test -race"
    go test -race -count=1 -timeout 600s ./...
}

# The store tests on PostgreSQL only; needs CONCERT_TEST_PG_CONNINFO_FILE
# (ctest provides it and the server, see tests/go.cmake).
run_postgres() {
    echo "== go test -race on PostgreSQL"
    if [ -z "${CONCERT_TEST_PG_CONNINFO_FILE:-}" ]; then
        echo "CONCERT_TEST_PG_CONNINFO_FILE is not set" >&2
        exit 1
    fi
    pg_tests='TestFlow|TestHoldExpiresWithFakeClock|TestRaceForOneSeat|TestQueueUpdate|TestQueueStates|TestScheduledOpening|TestPayOrder|TestRelease|TestHoldLimit|TestHistoryPage|TestTokenOwner|TestListVersions|TestPruneForgetsKeyedCharge|TestPruneLimit|TestSeatMap|TestDBStats'
    want=$(echo "$pg_tests" | tr '|' '\n' | wc -l)
    status=0
    go test -race -count=1 -timeout 600s -v \
        -run "^($pg_tests)\$/^postgres\$" ./... \
        >"${TMPDIR:-/tmp}/concert-go-pg.$$" 2>&1 || status=$?
    grep -E '^ *(--- |ok|FAIL|PASS|panic)|_test.go' "${TMPDIR:-/tmp}/concert-go-pg.$$" || true
    ran=$(grep -c -e '--- PASS: .*/postgres' "${TMPDIR:-/tmp}/concert-go-pg.$$" || true)
    rm -f "${TMPDIR:-/tmp}/concert-go-pg.$$"
    if [ "$status" -ne 0 ]; then
        exit "$status"
    fi
    if [ "$ran" -ne "$want" ]; then
        echo "expected $want PostgreSQL subtests to pass, saw $ran" >&2
        exit 1
    fi
}

# Build and run the README's example program against this checkout, exactly
# as a reader would paste it.
run_readme() {
    echo "== README example"
    work=${CONCERT_GO_WORKDIR:-}
    if [ -z "$work" ]; then
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
    fi
    example="$work/readme-example"
    rm -rf "$example"
    mkdir -p "$example"
    # The first ```go block after the "## Example" heading.
    awk '/^## Example/ { in_section = 1 }
         in_section && /^```go$/ { in_code = 1; next }
         in_code && /^```$/ { exit }
         in_code { print }' README.md >"$example/main.go"
    if ! grep -q '^package main' "$example/main.go"; then
        echo "README.md: no Go example found under '## Example'" >&2
        exit 1
    fi
    cat >"$example/go.mod" <<MOD
module example.com/readme

go 1.19

require libconcert.dev/concert v0.0.0

replace libconcert.dev/concert => $here
MOD
    # The ```text block that follows it is the promised output.
    awk '/^## Example/ { in_section = 1 }
         in_section && /^```text$/ { in_code = 1; next }
         in_code && /^```$/ { exit }
         in_code { print }' README.md >"$example/expected.txt"
    (cd "$example" && go vet . && go run .) >"$example/output.txt"
    cat "$example/output.txt"
    if ! diff -u "$example/expected.txt" "$example/output.txt"; then
        echo "README example: output differs from README.md" >&2
        exit 1
    fi
}

case "$mode" in
vet) run_vet ;;
test) run_test ;;
race) run_race ;;
readme) run_readme ;;
postgres) run_postgres ;;
all) run_vet; run_test; run_race; run_readme ;;
*) echo "usage: $0 vet|test|race|readme|all|postgres" >&2; exit 2 ;;
esac
