#!/usr/bin/env bash
# Fresh machine to a running booking backend: install, build, and start
# concertd with the demo catalog on the embedded SQLite store.
# Extra arguments go to concertd (e.g. --listen 127.0.0.1:9090).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --runtime
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONCERT_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target concertd concert_cli >/dev/null
# The address to open: the last --listen given, else concertd's default.
listen=127.0.0.1:8080
next_is_listen=0
for arg in "$@"; do
  if [ "$next_is_listen" = 1 ]; then listen=$arg; next_is_listen=0; continue; fi
  case $arg in
    --listen) next_is_listen=1 ;;
    --listen=*) listen=${arg#--listen=} ;;
  esac
done
case $listen in
  0.0.0.0:*) listen=127.0.0.1:${listen#0.0.0.0:} ;;  # any address: this machine's loopback works
  \[::\]:*) listen=[::1]:${listen#\[::\]:} ;;
esac
echo "Open http://$listen/ in a browser to book a seat (demo users 1 to 5; user 3 has 120,000 points)."
exec build/bin/concertd --store sqlite:concert.db --demo "$@"
