#!/usr/bin/env bash
# valgrind memcheck of a short concertd session: the whole booking flow over
# HTTP plus a few error paths, then SIGTERM. Any memory error or leak fails
# (--error-exitcode, definite and indirect leaks counted). The CLI has its own
# valgrind test (tests/cli).
# Usage: run.sh BIN_DIR
set -euo pipefail
bin=$1
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-fds=no)
checks=0
cat >"$work/catalog.json" <<'JSON'
{"users": [{"id": 1, "name": "Kim", "points": 100000}, {"id": 2, "name": "Lee", "points": 0}],
 "concerts": [{"id": 1, "title": "Gala", "status": "OPEN",
   "schedules": [{"id": 10, "starts_at": "2099-12-24T19:00:00Z",
                  "seats": [{"from": 1, "to": 50, "grade": "R", "price": 1000}]}]}]}
JSON

# A short concertd session under valgrind.
"${vg[@]}" "$bin/concertd" --store "sqlite:$work/server.db" --import "$work/catalog.json" \
  --listen 127.0.0.1:0 --threads 2 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
url=""
for _ in $(seq 1 300); do
  url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work/server.out" | head -n1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "concertd did not start under valgrind" >&2; cat "$work/server.err" >&2; exit 1; }
c() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }
[ "$(c -X POST -d '{"user_id": 1}' "$url/api/v1/queue/tokens")" = 201 ]
token=$(sed -E 's/.*"token": *"([^"]+)".*/\1/' "$work/body")
auth=(-H "Authorization: Bearer $token")
[ "$(c "${auth[@]}" "$url/api/v1/concerts")" = 200 ]
[ "$(c "${auth[@]}" "$url/api/v1/schedules/10/seats")" = 200 ]
[ "$(c "${auth[@]}" -X POST -d '{"schedule_id": 10, "seat_number": 7}' "$url/api/v1/reservations")" = 201 ]
rid=$(sed -E 's/.*"id": *([0-9]+).*/\1/' "$work/body")
[ "$(c "${auth[@]}" "$url/api/v1/schedules/10/seatmap")" = 200 ]
grep -q '"number":7,"grade":"R","price":1000,"status":"HELD","held_until":' "$work/body"
[ "$(c "${auth[@]}" -X POST -H 'Idempotency-Key: k1' -d "{\"reservation_id\": $rid}" "$url/api/v1/payments")" = 201 ]
[ "$(c -X POST -d '{not json' "$url/api/v1/queue/tokens")" = 400 ]
[ "$(c "$url/nope")" = 404 ]
kill -TERM "$server_pid"
set +e
wait "$server_pid"
rc=$?
set -e
server_pid=""
if [ "$rc" -ne 0 ]; then
  echo "concertd under valgrind exited $rc" >&2; cat "$work/server.err" >&2; exit 1
fi
checks=$((checks + 1))
echo "valgrind: concertd session (issue, browse, reserve, seat map, pay, errors, SIGTERM): no errors, no leaks"
echo "$checks passed, 0 failed"
