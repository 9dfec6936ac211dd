#!/usr/bin/env bash
# Check that the shipped binaries carry the hardening the project promises:
# PIE, full RELRO (GNU_RELRO + BIND_NOW), stack protector, FORTIFY_SOURCE.
# Usage: check.sh FILE...
set -euo pipefail
fail=0 checked=0
for f in "$@"; do
  hdr=$(readelf -h -l -d -W "$f")
  syms=$(readelf --dyn-syms -W "$f")
  problems=()
  grep -qE 'Type:\s+DYN' <<<"$hdr" || problems+=("not PIE")
  grep -q 'GNU_RELRO' <<<"$hdr" || problems+=("no RELRO")
  grep -qE 'BIND_NOW|FLAGS.*NOW' <<<"$hdr" || problems+=("no BIND_NOW (partial RELRO)")
  grep -q '__stack_chk_fail' <<<"$syms" || problems+=("no stack protector")
  grep -qE '__[a-z_]+_chk' <<<"$(grep -v __stack_chk_fail <<<"$syms")" || problems+=("no FORTIFY_SOURCE")
  if [ ${#problems[@]} -gt 0 ]; then
    echo "$f: ${problems[*]}" >&2
    fail=1
  else
    echo "$f: PIE, full RELRO, stack protector, fortify"
  fi
  checked=$((checked + 1))
done
[ "$fail" -eq 0 ] && echo "$checked passed, 0 failed"
exit "$fail"
