#!/usr/bin/env bash
# The one test command: install what is needed, build, run every test.
# Environment: CONCERT_SKIP_POSTGRES=1 skips (visibly) the PostgreSQL tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j2 --timeout 900)
