#!/bin/sh
# ctest fixture browser_setup: install the pinned playwright-core into the
# BUILD directory (never the source tree) with npm ci.
# Usage: setup.sh <tests/browser source dir> <build dir/browser>
# Exit 77 (SKIP) when there is no chromium to drive, so the tests say why.
set -eu
src=$1
dest=$2
chromium=${CONCERT_CHROMIUM:-/usr/bin/chromium}

if [ ! -x "$chromium" ]; then
  echo "SKIP: $chromium not found (scripts/install-deps.sh installs chromium)"
  exit 77
fi
command -v npm >/dev/null || { echo "npm not found (scripts/install-deps.sh installs it)" >&2; exit 1; }

mkdir -p "$dest" "$dest/screenshots"
# npm ci empties node_modules and downloads again; skip it when the lock
# installed last time is the one in the source tree.
if [ -f "$dest/node_modules/playwright-core/package.json" ] &&
   cmp -s "$src/package-lock.json" "$dest/package-lock.json" &&
   cmp -s "$src/package.json" "$dest/package.json"; then
  echo "playwright-core already installed in $dest"
  exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dest/"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dest" --ignore-scripts --no-audit --no-fund
