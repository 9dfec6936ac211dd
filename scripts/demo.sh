#!/usr/bin/env bash
# Fresh machine to a running booking backend: install, build, and start
# concertd with the demo catalog on the embedded SQLite store.
# Extra arguments go to concertd (e.g. --listen 127.0.0.1:9090).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --runtime
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONCERT_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target concertd concert_cli >/dev/null
exec build/bin/concertd --store sqlite:concert.db --demo "$@"
