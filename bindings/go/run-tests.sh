#!/bin/sh
# Checks for the Go binding, run by ctest (tests/go.cmake) or by hand:
#   run-tests.sh vet | test | race | readme | all | postgres | outside
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
    pg_tests='TestFlow|TestHoldExpiresWithFakeClock|TestRaceForOneSeat|TestQueueUpdate|TestQueueStates|TestScheduledOpening|TestPayOrder|TestRelease|TestHoldLimit|TestHistoryPage|TestTokenOwner|TestListVersions|TestPruneForgetsKeyedCharge|TestPruneLimit|TestSeatMap|TestDBStats|TestETA|TestContextCancelDuringCall'
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

# The README's quickstart from a module of its own outside this repository,
# against an installed prefix of the library, following the README's steps:
# install the library's components into a fresh prefix, `go mod init`, point
# the module at this binding with require + replace, PKG_CONFIG_PATH to the
# prefix, and LD_LIBRARY_PATH or an rpath at run time. Needs
# CONCERT_GO_BUILD_DIR (a build tree with libconcert built) and CMAKE_COMMAND.
# It also checks that each of those steps is needed: without the prefix's
# pkg-config file the build fails, and without LD_LIBRARY_PATH or an rpath
# the program does not start (unless the library is installed system-wide).
run_outside() {
    echo "== outside module"
    build=${CONCERT_GO_BUILD_DIR:?CONCERT_GO_BUILD_DIR is not set}
    cmake=${CMAKE_COMMAND:-cmake}
    work=$(mktemp -d "${TMPDIR:-/tmp}/concert-go-outside.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    prefix="$work/prefix"
    # A fresh build cache: Go's cache keys do not cover what pkg-config
    # prints, so a package cached against another libconcert (the build
    # tree's, or an earlier prefix) could be linked instead of this one.
    export GOCACHE="$work/gocache"
    for component in libconcert1 libconcert-dev; do
        "$cmake" --install "$build" --prefix "$prefix" --component "$component" >/dev/null
    done
    pc=$(find "$prefix" -name libconcert.pc | head -n 1)
    lib=$(find "$prefix" -name 'libconcert.so.*' | head -n 1)
    if [ -z "$pc" ] || [ -z "$lib" ]; then
        echo "the install into $prefix has no libconcert.pc or libconcert.so" >&2
        exit 1
    fi
    pcdir=$(dirname "$pc")
    libdir=$(dirname "$lib")

    app="$work/app"
    mkdir -p "$app"
    awk '/^## Example/ { in_section = 1 }
         in_section && /^```go$/ { in_code = 1; next }
         in_code && /^```$/ { exit }
         in_code { print }' README.md >"$app/main.go"
    awk '/^## Example/ { in_section = 1 }
         in_section && /^```text$/ { in_code = 1; next }
         in_code && /^```$/ { exit }
         in_code { print }' README.md >"$app/expected.txt"
    cd "$app"
    go mod init example.com/outside >/dev/null 2>&1
    go mod edit -require=libconcert.dev/concert@v0.0.0 \
                -replace=libconcert.dev/concert="$here"

    # Without the prefix's libconcert.pc (and no system one) cgo cannot
    # build the binding: the test depends on the prefix, not on luck.
    if PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$work/empty" go build -o app-nopc . \
        >"$work/nopc.log" 2>&1; then
        echo "built without any libconcert.pc: the prefix is not what is used" >&2
        exit 1
    fi
    if ! grep -Eq 'libconcert|-lconcert' "$work/nopc.log"; then
        echo "the build without libconcert.pc failed, but not for libconcert:" >&2
        cat "$work/nopc.log" >&2
        exit 1
    fi

    export PKG_CONFIG_PATH="$pcdir"
    go vet .
    go build -o app .
    # The binary resolves libconcert in the prefix, nowhere else.
    if ! LD_LIBRARY_PATH="$libdir" ldd ./app | grep -q "libconcert.so.* => $libdir/"; then
        echo "the program does not load libconcert from $libdir:" >&2
        LD_LIBRARY_PATH="$libdir" ldd ./app >&2
        exit 1
    fi
    LD_LIBRARY_PATH="$libdir" ./app >"$work/out-ld.txt"
    cat "$work/out-ld.txt"
    diff -u expected.txt "$work/out-ld.txt"
    if ldconfig -p 2>/dev/null | grep -q 'libconcert\.so'; then
        echo "(libconcert is installed system-wide: not checking that a run without LD_LIBRARY_PATH fails)"
    elif env -u LD_LIBRARY_PATH ./app >"$work/noload.log" 2>&1; then
        echo "ran without LD_LIBRARY_PATH or rpath: the library is found some other way" >&2
        exit 1
    elif ! grep -q 'libconcert.so.*cannot open shared object file' "$work/noload.log"; then
        echo "a run without LD_LIBRARY_PATH failed, but not for libconcert:" >&2
        cat "$work/noload.log" >&2
        exit 1
    fi

    # The other recipe: an rpath, and nothing at run time.
    CGO_LDFLAGS="-Wl,-rpath,$libdir" go build -o app-rpath .
    env -u LD_LIBRARY_PATH ./app-rpath >"$work/out-rpath.txt"
    diff -u expected.txt "$work/out-rpath.txt"
    echo "outside module: built against $prefix, ran with LD_LIBRARY_PATH and with an rpath"
}

case "$mode" in
vet) run_vet ;;
test) run_test ;;
race) run_race ;;
readme) run_readme ;;
postgres) run_postgres ;;
outside) run_outside ;;
all) run_vet; run_test; run_race; run_readme ;;
*) echo "usage: $0 vet|test|race|readme|all|postgres|outside" >&2; exit 2 ;;
esac
