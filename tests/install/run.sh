#!/usr/bin/env bash
# Install the build tree into a scratch prefix, then build and run a small
# program against it with find_package(concert) and with pkg-config.
set -euo pipefail
build=$1 work=$2 cc=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null

cmake -S "$here/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_C_COMPILER="$cc" >/dev/null
cmake --build "$work/consumer" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64:${LD_LIBRARY_PATH:-}" "$work/consumer/consumer"

libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -n1)
export PKG_CONFIG_PATH="$libdir"
# shellcheck disable=SC2046
"$cc" -std=c11 -o "$work/consumer-pc" "$here/consumer/consumer.c" $(pkg-config --cflags --libs libconcert)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$work/consumer-pc"
echo "install_consumer: find_package and pkg-config both work"
