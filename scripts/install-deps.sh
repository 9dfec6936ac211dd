#!/usr/bin/env bash
# Install the Debian packages libconcert needs to build and test, if missing.
# Usage: scripts/install-deps.sh [--runtime]   (--runtime: only what demo.sh needs)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libsqlite3-dev libpq-dev
            libmicrohttpd-dev libjson-c-dev libssl-dev curl)
test_pkgs=(libcriterion-dev postgresql python3 python3-pytest python3-cffi
           python3-venv python3-pip-whl python3-setuptools-whl python3-wheel-whl
           golang-go clang libclang-rt-14-dev valgrind abigail-tools git
           chromium fonts-noto-cjk doxygen clang-format)
# The browser tests (tests/browser) run on node and npm. Only when missing: a
# node from elsewhere (nodesource's nodejs bundles npm) conflicts with
# Debian's npm package.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  test_pkgs+=(nodejs npm)
fi

pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--runtime" ] || pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >&2
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
