#!/usr/bin/env bash
# The first hour in C, as README.md's "Install to a prefix" section gives it:
# on a fresh clone of the committed HEAD, in a fresh directory, with a clean
# environment (no LD_LIBRARY_PATH or PKG_CONFIG_PATH from the caller), run the
# block between <!-- install-prefix:begin --> and <!-- install-prefix:end -->
# as written, with the README quickstart saved as quickstart.c. It must print a
# paid reservation, and the program must load the libconcert.so.1 that the
# recipe installed (listed in its install_manifest.txt), not the build tree's
# nor any other copy on the machine.
# Run twice: as root and as the unprivileged user "nobody" (a home of its own
# in the scratch directory), each on its own clone. When not run as root, the
# current user's run is the unprivileged one and the root run is reported as
# skipped.
# Usage: run.sh REPO [TIMEOUT_SECONDS]
set -euo pipefail
repo=$(cd "$1" && pwd)
limit=${2:-600}
if [ "${CONCERT_FIRST_HOUR_INNER:-0}" != 1 ]; then
  CONCERT_FIRST_HOUR_INNER=1 exec timeout --kill-after=10 "$limit" "$0" "$@"
fi
fail() { echo "first_hour: FAIL: $*" >&2; exit 1; }

# /tmp, not the build tree: "nobody" must be able to reach its directory.
work=$(mktemp -d /tmp/concert-first-hour.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 711 "$work"
head=$(git -C "$repo" rev-parse HEAD)

# The fenced block of FENCE ("sh" or "c") between the two MARKER comments.
block() { # README MARKER FENCE
  awk -v b="<!-- $2:begin -->" -v e="<!-- $2:end -->" -v f="\`\`\`$3" '
    $0 == b { inside = 1; next }
    $0 == e { inside = 0 }
    inside && !fenced && $0 == f { fenced = 1; next }
    inside && fenced && $0 == "```" { fenced = 0; done = 1 }
    inside && fenced && !done { print }' "$1"
}

# One run of the recipe: AS is root or an unprivileged user name.
follow() { # AS DIR
  local as=$1 dir=$2 clone=$2/libconcert home=$2/home
  mkdir -p "$dir" "$home"
  git clone -q --no-checkout "$repo" "$clone"
  git -C "$clone" -c advice.detachedHead=false checkout -q "$head"
  block "$clone/README.md" install-prefix sh >"$dir/recipe.sh"
  block "$clone/README.md" quickstart c >"$clone/quickstart.c"
  [ -s "$dir/recipe.sh" ] || fail "README.md has no sh block between the install-prefix markers"
  [ -s "$clone/quickstart.c" ] || fail "README.md has no C block between the quickstart markers"
  echo "== first_hour: as $as, in a fresh clone of $head ($clone), HOME=$home:"
  sed 's/^/   /' "$dir/recipe.sh"
  local run=(env -i HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8)
  if [ "$as" != root ] && [ "$(id -u)" = 0 ]; then
    chown -R "$as" "$dir"
    run=(runuser -u "$as" -- "${run[@]}")
  fi
  # The block runs as one shell script, stopping at the first failing command.
  (cd "$clone" && "${run[@]}" bash -e "$dir/recipe.sh") >"$dir/out.log" 2>&1 ||
    { tail -30 "$dir/out.log" >&2; fail "as $as: the README recipe failed (log above)"; }
  grep -q '^paid reservation' "$dir/out.log" ||
    { cat "$dir/out.log" >&2; fail "as $as: the quickstart printed no paid reservation"; }
  # Which libconcert.so.1 did the program load? The one the recipe installed.
  local manifest lib
  manifest=$(find "$clone" -name install_manifest.txt | head -n1)
  [ -n "$manifest" ] || fail "as $as: the recipe installed nothing (no install_manifest.txt)"
  [ -x "$clone/quickstart" ] || fail "as $as: the recipe built no ./quickstart"
  lib=$(cd "$clone" && "${run[@]}" ldd ./quickstart | awk '$1 == "libconcert.so.1" { print $3 }')
  [ -n "$lib" ] || fail "as $as: ./quickstart does not load libconcert.so.1"
  grep -qxF "$lib" "$manifest" ||
    fail "as $as: ./quickstart loads $lib, not the installed copy ($(grep 'libconcert.so.1$' "$manifest"))"
  echo "   as $as: paid reservation; libconcert.so.1 from $lib (installed by the recipe)"
}

if [ "$(id -u)" = 0 ]; then
  follow root "$work/root"
  follow nobody "$work/nobody"
else
  echo "== first_hour: not root: the root run is skipped"
  follow "$(id -un)" "$work/user"
fi
echo "first_hour: OK: README's install-to-a-prefix recipe works from a fresh clone"
