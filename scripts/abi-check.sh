#!/usr/bin/env bash
# Compare libconcert's exported ABI with the last release's (abi/libconcert-*.abi).
#
#   scripts/abi-check.sh [LIB]                the check (ctest abi_check runs it on
#                                             build/lib/libconcert.so); without LIB it
#                                             builds one (RelWithDebInfo: abidw needs -g)
#   scripts/abi-check.sh --update [LIB] [--headers DIR]
#                                             at a release only: replace the baseline
#                                             with LIB's ABI (see abi/README.md)
#
# Only the public headers count (include/concert, sys/ included): abidw drops
# every type declared elsewhere. The check fails (exit 1) on
#  - an incompatible change (abidiff's ABIDIFF_ABI_INCOMPATIBLE_CHANGE bit: a
#    removed function or variable, ...);
#  - any other change to an existing interface (a parameter, a return type, a
#    member moved, resized or removed), except fields appended to the end of
#    a versioned struct (its first member is `unsigned int version` and the
#    library copies it by the caller's version): those and added functions
#    are printed as compatible.
# Exit 77 (ctest: skipped) when abigail-tools is missing; 2 on a tool error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# Versioned structs that may grow at their end (tests/abi_versions_test.c
# proves the library reads and writes each by the caller's version).
growable=${CONCERT_ABI_GROWABLE:-concert_options concert_catalog concert_queue_update concert_db_stats}

update=0
lib=""
headers="$root/include/concert"
while [ $# -gt 0 ]; do
  case $1 in
    --update) update=1 ;;
    --headers) headers=$(cd "$2" && pwd); shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) lib=$1 ;;
  esac
  shift
done

if ! command -v abidw >/dev/null || ! command -v abidiff >/dev/null; then
  echo "abi-check: abidw/abidiff not found (Debian: abigail-tools; scripts/install-deps.sh)" >&2
  exit 77
fi

if [ -z "$lib" ]; then
  bdir=${CONCERT_ABI_BUILD_DIR:-$root/build-abi-check}
  echo "== abi-check: building libconcert in $bdir"
  cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONCERT_BUILD_TESTS=OFF \
        -DCONCERT_BUILD_EXAMPLES=OFF -DCONCERT_BUILD_BENCH=OFF -DCONCERT_SANITIZE= >/dev/null
  cmake --build "$bdir" -j"${CONCERT_ABI_JOBS:-2}" --target concert >/dev/null
  lib=$bdir/lib/libconcert.so
fi
[ -f "$lib" ] || { echo "abi-check: no library at $lib" >&2; exit 2; }

# One way to dump, for the baseline and for the check alike.
dump() {
  abidw --exported-interfaces-only --headers-dir "$headers" --drop-private-types \
        --suppressions "$root/abi/internal.suppr" --no-corpus-path --short-locs "$1"
}

if [ "$update" = 1 ]; then
  version=$(sed -n 's/^project(concert VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
  out=$root/abi/libconcert-$version.abi
  mkdir -p "$root/abi"
  dump "$lib" >"$out.tmp"
  find "$root/abi" -name 'libconcert-*.abi' ! -name "libconcert-$version.abi" -delete
  mv "$out.tmp" "$out"
  echo "abi-check: baseline is now $out ($(grep -c '<elf-symbol ' "$out") exported symbols)"
  exit 0
fi

shopt -s nullglob
baselines=("$root"/abi/libconcert-*.abi)
[ -z "${CONCERT_ABI_BASELINE:-}" ] || baselines=("$CONCERT_ABI_BASELINE")
[ ${#baselines[@]} -eq 1 ] || { echo "abi-check: want exactly one abi/libconcert-*.abi, found ${#baselines[@]}" >&2; exit 2; }
baseline=${baselines[0]}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dump "$lib" >"$work/current.abi"

echo "== abi-check: $(basename "$baseline") -> $lib"
set +e
abidiff --exported-interfaces-only --suppressions "$root/abi/internal.suppr" --no-added-syms "$baseline" "$work/current.abi" >"$work/changes.txt"
rc=$?
abidiff --exported-interfaces-only --suppressions "$root/abi/internal.suppr" "$baseline" "$work/current.abi" >"$work/all.txt"
set -e
if [ $((rc & 3)) -ne 0 ]; then
  cat "$work/changes.txt" >&2
  echo "abi-check: abidiff failed (exit $rc)" >&2
  exit 2
fi

# Additions never break an old caller: print them for the record.
added=$(grep -E "^\s+\[A\] " "$work/all.txt" || true)
if [ -n "$added" ]; then
  echo "compatible additions since the baseline:"
  echo "$added"
fi

if [ $((rc & 8)) -ne 0 ]; then
  cat "$work/changes.txt"
  echo "abi-check: FAIL: incompatible ABI change against $(basename "$baseline")" >&2
  exit 1
fi
if [ $((rc & 4)) -eq 0 ]; then
  echo "abi-check: OK, no change to an existing interface"
  exit 0
fi

# A change to an existing interface: allowed only as fields appended to a
# growable struct reached through a pointer. Every other report line fails.
if awk -v growable="$growable" '
  BEGIN { n = split(growable, g, " "); for (i = 1; i <= n; i++) ok[g[i]] = 1; ptr = 0; cur = ""; old = -1 }
  function bad(why) { printf "  not an append to a versioned struct (%s): %s\n", why, $0; fails++ }
  /^$/ || /changes summary:/ || /with some indirect sub-type change/ { next }
  /^ *\[C\] / || /^ *parameter [0-9]+ of type .* has sub-type changes:$/ ||
  /^ *return type .* has sub-type changes:$/ { ptr = 0; cur = ""; old = -1; next }
  /^ *in pointed to type / { ptr = 1 }
  /^ *in pointed to type / || /^ *in unqualified underlying type / || /^ *underlying type / {
    if (match($0, /\x27struct [A-Za-z0-9_]+\x27/)) cur = substr($0, RSTART + 8, RLENGTH - 9)
    next
  }
  /^ *type size changed from [0-9]+ to [0-9]+ \(in bits\)$/ {
    if (!ptr) { bad("not behind a pointer"); next }
    if (!(cur in ok)) { bad("struct " cur " is not versioned"); next }
    old = $5 + 0
    if ($7 + 0 <= old) bad("did not grow")
    next
  }
  /^ *[0-9]+ data member insertions?:$/ { next }
  /^ *\x27.*\x27, at offset [0-9]+ \(in bits\)/ {
    if (old < 0 || !(cur in ok)) { bad("insertion without growth"); next }
    if (match($0, /at offset [0-9]+/) && substr($0, RSTART + 10, RLENGTH - 10) + 0 < old)
      bad("inserted before the old end")
    next
  }
  /as reported earlier/ { next }
  { bad("change") }
  END { exit fails > 0 }
' "$work/changes.txt" >"$work/verdict.txt"; then
  echo "compatible changes (fields appended to versioned structs):"
  cat "$work/changes.txt"
  echo "abi-check: OK, compatible changes only"
  exit 0
fi
cat "$work/changes.txt"
echo "abi-check: FAIL: changes to existing interfaces that are not appends to a versioned struct:" >&2
cat "$work/verdict.txt" >&2
echo "If this break is deliberate it needs a new major version and a new baseline (abi/README.md)." >&2
exit 1
