#!/usr/bin/env bash
# Build the .deb packages with CPack, unpack them into a scratch root (no
# container, no root: dpkg-deb -x), and build and run the README quickstart
# against the unpacked files only: dynamically, and statically with
# `pkg-config --static`. Also checks the package layout and the unit file.
# Usage: run.sh BUILD_DIR WORK_DIR CC QUICKSTART_C
set -euo pipefail
build=$1 work=$2 cc=$3 qs=$4
rm -rf "$work" && mkdir -p "$work/debs" "$work/root"
(cd "$work/debs" && cpack -G DEB --config "$build/CPackConfig.cmake" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; exit 1; }
for p in libconcert0 libconcert-dev concertd; do
  deb=$(ls "$work"/debs/${p}_*.deb)
  dpkg-deb -x "$deb" "$work/root"
  dpkg-deb -f "$deb" Package Depends
done
root=$work/root/usr
fail() { echo "package: $*" >&2; exit 1; }
# The runtime package holds only the shared library; the .so link is -dev's.
dpkg-deb -c "$work"/debs/libconcert0_*.deb | grep -q 'libconcert\.so\.0\.' || fail "libconcert0 lacks the library"
dpkg-deb -c "$work"/debs/libconcert0_*.deb | grep -qE 'libconcert\.(so|a)$|include/' && fail "libconcert0 holds dev files"
dpkg-deb -f "$work"/debs/libconcert0_*.deb Depends | grep -q libsqlite3 || fail "shlibdeps gave no libsqlite3"
unit=$root/lib/systemd/system/concertd.service
[ -f "$unit" ] || fail "no systemd unit"
for k in 'DynamicUser=yes' 'ProtectSystem=strict' 'StateDirectory=concert' 'NoNewPrivileges=yes' \
         'ExecStart=/usr/bin/concertd --store sqlite:/var/lib/concert/concert.db'; do
  grep -qx "$k" "$unit" || fail "unit lacks $k"
done

libdir=$(dirname "$(ls -d "$root"/lib*/pkgconfig "$root"/lib/*/pkgconfig 2>/dev/null | head -n1)")
export PKG_CONFIG_PATH=$libdir/pkgconfig
cflags=$(pkg-config --cflags libconcert)
case "$cflags" in *postgresql*|*sqlite*) fail "--cflags carries backend headers: $cflags";; esac
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -o "$work/qs-dyn" "$qs" $cflags $(pkg-config --libs libconcert)
LD_LIBRARY_PATH=$libdir "$work/qs-dyn" | grep 'paid reservation'
# libconcert.a with the shared backend libraries (a fully -static link is not
# supported: Debian ships no static closure for libpq).
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -o "$work/qs-static" "$qs" $cflags -Wl,-Bstatic -lconcert -Wl,-Bdynamic \
      $(pkg-config --static --libs libconcert)
ldd "$work/qs-static" | grep -q libconcert && fail "static quickstart still loads libconcert.so"
"$work/qs-static" | grep 'paid reservation'
LD_LIBRARY_PATH=$libdir "$root/bin/concertd" --help | grep -q -- '--store' || fail "concertd --help"
echo "package: debs build, unpack and run the quickstart"
