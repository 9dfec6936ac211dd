#!/usr/bin/env bash
# Build the .deb packages with CPack, unpack them into a scratch root (no
# container, no root: dpkg-deb -x), and build and run the README quickstart
# against the unpacked files only: dynamically, and statically with
# `pkg-config --static`. Also checks the package layout (Debian multiarch,
# nothing installed outside the three packages) and the unit file.
#
# The debs come from a packaging build of their own in WORK_DIR/build,
# configured as README.md says (prefix /usr, no tests, no bench): cpack's
# preinstall step builds every target of the build it packages, which in the
# test build would be the whole test suite. That build is kept between runs,
# so a second run only rebuilds what changed; cpack's scratch directory
# (_CPack_Packages) is inside it, so a cpack in the test build cannot collide.
# Usage: run.sh SOURCE_DIR WORK_DIR CC QUICKSTART_C
set -euo pipefail
src=$1 work=$2 cc=$3 qs=$4
fail() { echo "package: $*" >&2; exit 1; }
build=$work/build
rm -rf "$work/debs" "$work/root" "$work/unspecified" "$work/consumer" && mkdir -p "$work/debs" "$work/root"
SECONDS=0
cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCONCERT_BUILD_TESTS=OFF -DCONCERT_BUILD_BENCH=OFF -DCONCERT_BUILD_EXAMPLES=ON \
      >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure failed"; }
cmake --build "$build" -j2 >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "build failed"; }
echo "package: packaging build ready in ${SECONDS}s"
(cd "$work/debs" && cpack -G DEB --config "$build/CPackConfig.cmake" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
echo "package: cpack done at ${SECONDS}s"
for p in libconcert1 libconcert-dev concertd; do
  deb=$(ls "$work"/debs/${p}_*.deb)
  dpkg-deb -x "$deb" "$work/root"
  dpkg-deb -f "$deb" Package Depends
done
# A file installed with no COMPONENT lands in CMake's "Unspecified" component,
# which no deb carries: it would be missing from the packages without a word.
mkdir -p "$work/unspecified"
DESTDIR=$work/unspecified cmake --install "$build" --component Unspecified >/dev/null
leftover=$(cd "$work/unspecified" && find . -type f -o -type l)
[ -z "$leftover" ] || fail "installed but in no package (give the install() a COMPONENT): $leftover"
root=$work/root/usr
# Listings read once into variables: `dpkg-deb -c | grep -q` under pipefail
# fails at random when grep exits before dpkg-deb has written everything.
lib0=$(dpkg-deb -c "$work"/debs/libconcert1_*.deb)
daemon=$(dpkg-deb -c "$work"/debs/concertd_*.deb)
# The runtime package holds only the shared library; the .so link is -dev's.
grep -q 'libconcert\.so\.1\.' <<<"$lib0" || fail "libconcert1 lacks the library"
grep -qE 'libconcert\.(so|a)$|include/' <<<"$lib0" && fail "libconcert1 holds dev files"
grep -q libsqlite3 <<<"$(dpkg-deb -f "$work"/debs/libconcert1_*.deb Depends)" || fail "shlibdeps gave no libsqlite3"
unit=$root/lib/systemd/system/concertd.service
[ -f "$unit" ] || fail "no systemd unit"
for k in 'DynamicUser=yes' 'ProtectSystem=strict' 'StateDirectory=concert' 'NoNewPrivileges=yes' \
         'ExecStart=/usr/bin/concertd --store sqlite:/var/lib/concert/concert.db'; do
  grep -qx "$k" "$unit" || fail "unit lacks $k"
done

# Debian multiarch: /usr/lib/<triplet>, as dpkg-architecture names it.
libdir=$root/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
[ -f "$libdir/pkgconfig/libconcert.pc" ] || fail "no libconcert.pc in $libdir/pkgconfig (not multiarch?)"
grep -q " ./usr/lib/[^/]*-linux-[^/]*/libconcert\.so\.1\." <<<"$lib0" ||
  fail "libconcert1's library is not in /usr/lib/<triplet>"
for f in usr/bin/concertd usr/bin/concert usr/bin/concert-kiosk usr/share/man/man8/concertd.8 \
         usr/share/man/man1/concert.1 usr/share/man/man1/concert-kiosk.1; do
  grep -q " ./$f\$" <<<"$daemon" || fail "the concertd deb lacks /$f"
done
grep -q concert-kiosk <<<"$(dpkg-deb -f "$work"/debs/concertd_*.deb Description)" ||
  fail "the concertd deb's description does not mention concert-kiosk"
# Static users link json-c (libconcert.pc Libs.private: -ljson-c).
grep -q 'libjson-c-dev' <<<"$(dpkg-deb -f "$work"/debs/libconcert-dev_*.deb Depends)" ||
  fail "libconcert-dev does not depend on libjson-c-dev"
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
grep -q libconcert <<<"$(ldd "$work/qs-static")" && fail "static quickstart still loads libconcert.so"
"$work/qs-static" | grep 'paid reservation'
# CMake users: find_package(concert) from the unpacked -dev files.
if ! { cmake -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$root" \
               -DCMAKE_C_COMPILER="$cc" && cmake --build "$work/consumer"; } >"$work/consumer.log" 2>&1; then
  cat "$work/consumer.log"; fail "find_package(concert) from the debs"
fi
grep -q "$root/lib/" "$work/consumer/CMakeCache.txt" || fail "find_package(concert) did not use the debs"
LD_LIBRARY_PATH=$libdir "$work/consumer/consumer" || fail "the find_package consumer failed"
grep -q -- '--store' <<<"$(LD_LIBRARY_PATH=$libdir "$root/bin/concertd" --help)" || fail "concertd --help"
grep -q -- '--ticket-key' <<<"$(LD_LIBRARY_PATH=$libdir "$root/bin/concert-kiosk" --help)" ||
  fail "concert-kiosk --help"
echo "package: debs build, unpack and run the quickstart (${SECONDS}s)"
