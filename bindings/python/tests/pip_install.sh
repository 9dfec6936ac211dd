#!/usr/bin/env bash
# The Python binding as a user installs it: libconcert installed to a prefix
# (cmake --install), `pip install ./bindings/python` into a fresh venv with
# only Debian's wheels (offline, build isolation on), then the README
# quickstart run from a scratch directory outside the repository with a
# clean environment. The installed package must find the library through
# pkg-config (PKG_CONFIG_PATH at the prefix), then through CONCERT_LIBRARY;
# with neither it must fail with LibraryError (unless the system loader
# already has a libconcert, in which case that check is skipped).
# Usage: pip_install.sh BUILD_DIR        (the library targets built: `all`)
# Exit 77 (skipped) when python3-venv or Debian's wheels are missing.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)        # bindings/python
python=/usr/bin/python3
wheels=/usr/share/python-wheels

for w in pip setuptools wheel; do
  ls "$wheels"/$w-*.whl >/dev/null 2>&1 ||
    { echo "skip: no $wheels/$w-*.whl (apt-get install python3-pip-whl python3-setuptools-whl python3-wheel-whl)"; exit 77; }
done
"$python" -c 'import ensurepip, venv' 2>/dev/null ||
  { echo "skip: no venv/ensurepip (apt-get install python3-venv)"; exit 77; }

work=$(mktemp -d /tmp/concert-pip.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "pip_install: $*" >&2; exit 1; }

# 1. The library, installed to a prefix as the root README's recipe does.
prefix=$work/prefix
for c in libconcert1 libconcert-dev; do
  cmake --install "$build" --prefix "$prefix" --component "$c" >"$work/install.log" ||
    { cat "$work/install.log"; fail "cmake --install failed"; }
done

# 2. A fresh venv and pip, offline: pip may use Debian's wheels and nothing
# else (no user config, no extra index). A copy of the package, so the
# build's in-tree build/ and *.egg-info never land in the source tree.
cp -r "$here" "$work/src"
rm -rf "$work/src/tests" "$work/src/build" "$work/src"/*.egg-info
"$python" -m venv "$work/venv"
env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
  "$work/venv/bin/pip" install --no-index --find-links "$wheels" "$work/src" >"$work/pip.log" 2>&1 ||
  { cat "$work/pip.log"; fail "pip install failed"; }
rm -rf "$work/src"        # the installed copy must not need its source

# 3. The README quickstart, in a scratch directory, with a clean environment.
"$python" - "$here/README.md" >"$work/quickstart.py" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
block = re.search(r"<!-- example:begin -->\n```python\n(.*?)```\n<!-- example:end -->", text, re.S)
sys.exit("README example block not found") if not block else print(block.group(1))
EOF
clean_env=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work" LANG=C.UTF-8)
probe='import concert, sys; print(concert.library_path()); print(concert.__file__)'

run() {   # run NAME VAR=VALUE...: the quickstart and a probe of what loaded
  local dir=$work/$1; shift
  mkdir -p "$dir"
  (cd "$dir" && "${clean_env[@]}" "$@" "$work/venv/bin/python" "$work/quickstart.py") >"$dir/out" 2>&1 ||
    { cat "$dir/out" >&2; return 1; }
  grep -q "paid 80000 points, balance 120000" "$dir/out" || { cat "$dir/out" >&2; return 1; }
  (cd "$dir" && "${clean_env[@]}" "$@" "$work/venv/bin/python" -c "$probe")
}

libdir=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --variable=libdir libconcert)
out=$(run via-pkg-config PKG_CONFIG_PATH="$prefix/lib/pkgconfig") || fail "quickstart via pkg-config failed"
echo "$out"
loaded=$(echo "$out" | sed -n 1p)
[ "$(dirname "$(realpath "$loaded")")" = "$(realpath "$libdir")" ] ||
  fail "via pkg-config, loaded $loaded, not from $libdir"
case "$(echo "$out" | sed -n 2p)" in "$work/venv/"*) ;; *) fail "concert was not imported from the venv";; esac

out=$(run via-env CONCERT_LIBRARY="$libdir/libconcert.so.1") || fail "quickstart via CONCERT_LIBRARY failed"
[ "$(echo "$out" | sed -n 1p)" = "$libdir/libconcert.so.1" ] || fail "CONCERT_LIBRARY not used: $out"

# The loader's own search (what an ldconfig'd prefix such as /usr/local gives).
out=$(run via-loader LD_LIBRARY_PATH="$libdir") || fail "quickstart via the loader's search failed"
[ "$(echo "$out" | sed -n 1p)" = "libconcert.so.1" ] || fail "not loaded by the loader's search: $out"

# 4. Neither: nothing may be found by accident (no build tree, no stale path).
if "${clean_env[@]}" "$python" -c 'import ctypes, ctypes.util, sys
sys.exit(0 if ctypes.util.find_library("concert") else 1)' ||
   "${clean_env[@]}" pkg-config --exists libconcert; then
  echo "note: the system already provides libconcert; the not-found check is skipped"
else
  mkdir -p "$work/none"
  if (cd "$work/none" && "${clean_env[@]}" "$work/venv/bin/python" -c "$probe") >"$work/none/out" 2>&1; then
    cat "$work/none/out"; fail "libconcert was found with no CONCERT_LIBRARY and no PKG_CONFIG_PATH"
  fi
  grep -q "LibraryError: cannot load libconcert" "$work/none/out" || { cat "$work/none/out"; fail "no LibraryError"; }
  grep -q "pkg-config: libconcert not found" "$work/none/out" || { cat "$work/none/out"; fail "pkg-config not tried"; }
fi
echo "pip_install: installed offline into a fresh venv; quickstart ran via pkg-config, CONCERT_LIBRARY and the loader"
