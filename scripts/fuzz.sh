#!/usr/bin/env bash
# Build the libFuzzer targets with clang under ASan + UBSan and run each for a
# bounded time from its seed corpus (tests/fuzz/<corpus>/). A crash, a
# sanitizer report or a leak fails the run and leaves the input in build-fuzz/.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-60}}

CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCONCERT_FUZZ=ON \
  -DCONCERT_SANITIZE=address,undefined -DCONCERT_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_uri fuzz_catalog fuzz_http

rm -f build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-*
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for pair in fuzz_uri:uri fuzz_catalog:catalog fuzz_http:http; do
  target=${pair%%:*} corpus=${pair##*:}
  work=build-fuzz/corpus-$target
  rm -rf "$work" && mkdir -p "$work" && cp tests/fuzz/"$corpus"/* "$work"/
  echo "== $target for ${seconds}s"
  (cd build-fuzz && bin/$target -max_total_time="$seconds" -max_len=70000 \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "corpus-$target" 2>&1 |
      grep -E 'stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Test unit written' || true)
  # libFuzzer exits non-zero on a finding; pipefail is defeated by grep, so check files.
  if ls build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-* >/dev/null 2>&1; then
    echo "$target found a failing input: $(ls build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-* 2>/dev/null)" >&2
    exit 1
  fi
done
echo "fuzz: 3 targets ran ${seconds}s each, no findings"
