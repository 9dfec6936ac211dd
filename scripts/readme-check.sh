#!/usr/bin/env bash
# The README's two commands, in order, on a clean clone of the committed HEAD:
#   1. the first command (scripts/demo.sh) builds and starts concertd: it must
#      answer GET /healthz and, with a queue token, GET /api/v1/concerts
#      listing the demo concert; then it is stopped;
#   2. the second command (scripts/test.sh), run in the same clone after it,
#      must configure a build whose ctest finds tests: it runs with
#      CONCERT_TEST_CONFIGURE_ONLY=1 (test.sh stops after its first
#      configure), then `ctest -N` must list tests and one of them
#      (abi_versions) is built and run with --no-tests=error.
# This is the order that once ran nothing: demo.sh configures build/ with tests
# OFF, test.sh reused that cache, ctest found no tests and exited 0.
# Bounded: the whole check is killed after CONCERT_README_CHECK_TIMEOUT
# seconds (default 300: a clean build of the library and concertd on 2 cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
limit=${CONCERT_README_CHECK_TIMEOUT:-300}
if [ "${CONCERT_README_CHECK_INNER:-0}" != 1 ]; then
  CONCERT_README_CHECK_INNER=1 exec timeout --kill-after=10 "$limit" "$0" "$@"
fi

fail() { echo "readme-check: FAIL: $*" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
# The first command runs in its own process group (setsid): stopping it
# also stops a build it may still be running.
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -- -"$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# The two commands, as the README's first code block gives them.
mapfile -t cmds < <(awk '/^```/ { if (inblock) exit; inblock = 1; next }
                         inblock { sub(/[ \t]*#.*/, ""); if ($0 != "") print }' "$root/README.md")
[ ${#cmds[@]} -eq 2 ] || fail "README.md's first code block has ${#cmds[@]} commands, expected 2"
case ${cmds[0]} in scripts/demo.sh*) ;; *) fail "first command is '${cmds[0]}', not scripts/demo.sh" ;; esac
case ${cmds[1]} in scripts/test.sh*) ;; *) fail "second command is '${cmds[1]}', not scripts/test.sh" ;; esac

head=$(git -C "$root" rev-parse HEAD)
echo "== readme-check: clean clone of $head in $work/repo"
git clone -q --no-checkout "$root" "$work/repo"
git -C "$work/repo" -c advice.detachedHead=false checkout -q "$head"
cd "$work/repo"

# A free loopback port, so that a concertd already on 8080 does not answer for us.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

echo "== readme-check: 1. ${cmds[0]} --listen 127.0.0.1:$port"
# shellcheck disable=SC2086 # the README's command, split as a shell would
setsid ${cmds[0]} --listen "127.0.0.1:$port" >"$work/demo.log" 2>&1 &
server_pid=$!
status=""
while kill -0 "$server_pid" 2>/dev/null; do
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/healthz" || true)
  [ "$status" = 200 ] && break
  sleep 1
done
if [ "$status" != 200 ]; then
  tail -20 "$work/demo.log" >&2
  fail "the first command's concertd never answered GET /healthz with 200"
fi
token=$(curl -s --max-time 5 -X POST "$base/api/v1/queue/tokens" -d '{"user_id": 3}' |
        sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || fail "POST /api/v1/queue/tokens gave no token"
concerts=$(curl -s --max-time 5 -w '\n%{http_code}' "$base/api/v1/concerts" \
           -H "Authorization: Bearer $token")
[ "$(tail -n1 <<<"$concerts")" = 200 ] || fail "GET /api/v1/concerts: $concerts"
grep -q '"id":1' <<<"$concerts" || fail "GET /api/v1/concerts does not list the demo concert: $concerts"
echo "   concertd answered /healthz and /api/v1/concerts"
kill -- -"$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
! curl -s -o /dev/null --max-time 2 "$base/healthz" || fail "concertd still answers after it was stopped"

echo "== readme-check: 2. ${cmds[1]} (its configure; then ctest in the build/ it left)"
# shellcheck disable=SC2086
CONCERT_TEST_CONFIGURE_ONLY=1 ${cmds[1]} >"$work/test.log" 2>&1 ||
  { tail -20 "$work/test.log" >&2; fail "the second command's configure failed"; }
listed=$(cd build && ctest -N | sed -n 's/^Total Tests: *\([0-9]*\)$/\1/p')
[ "${listed:-0}" -gt 0 ] ||
  fail "after the two commands, ctest in build/ lists ${listed:-no} tests: the test command would run nothing"
grep -q -- '--no-tests=error' scripts/test.sh ||
  fail "scripts/test.sh does not run ctest with --no-tests=error"
cmake --build build -j2 --target abi_versions_test >/dev/null
(cd build && ctest --no-tests=error -R '^abi_versions$' >"$work/ctest.log" 2>&1) ||
  { cat "$work/ctest.log" >&2; fail "ctest -R abi_versions in build/ failed"; }
echo "readme-check: OK: the first command serves, then the second configures $listed tests and runs them"
