#!/usr/bin/env bash
# Build the libFuzzer targets with clang under ASan + UBSan and run each for a
# bounded time from its seed corpus (tests/fuzz/<corpus>/). A crash, a
# sanitizer report or a leak fails the run and leaves the input in the build
# directory (build-fuzz/, or $FUZZ_BUILD_DIR).
# fuzz_http_stream feeds whole byte streams to concertd's HTTP layer running
# in-process (tests/fuzz/fuzz_http_stream.c).
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60; 4 targets, so
# about 4 x SECONDS plus the build)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-60}}
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_BUILD_JOBS:-$(nproc)}
pairs="fuzz_uri:uri fuzz_catalog:catalog fuzz_http:http fuzz_http_stream:http_stream"

CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCONCERT_FUZZ=ON \
  -DCONCERT_SANITIZE=address,undefined -DCONCERT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target fuzz_uri fuzz_catalog fuzz_http fuzz_http_stream

rm -f "$build"/crash-* "$build"/leak-* "$build"/timeout-* "$build"/oom-*
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for pair in $pairs; do
  target=${pair%%:*} corpus=${pair##*:}
  work=$build/corpus-$target
  rm -rf "$work" && mkdir -p "$work" && cp tests/fuzz/"$corpus"/* "$work"/
  echo "== $target for ${seconds}s"
  (cd "$build" && bin/$target -max_total_time="$seconds" -max_len=70000 \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "corpus-$target" 2>&1 |
      grep -E 'stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Test unit written|^fuzz_http_stream:' || true)
  # libFuzzer exits non-zero on a finding; pipefail is defeated by grep, so check files.
  # (Not `ls a b c`: it fails when any one kind is missing, which hid findings.)
  found=$(find "$build" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
          -o -name 'oom-*' \) -print)
  if [ -n "$found" ]; then
    echo "$target found a failing input: $found" >&2
    exit 1
  fi
done
echo "fuzz: 4 targets ran ${seconds}s each, no findings"
