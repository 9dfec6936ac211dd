#!/usr/bin/env bash
# Format the C sources with the root .clang-format, or check them.
#   scripts/format.sh          rewrite every tracked C file in place
#   scripts/format.sh --check  list files that differ and exit 1 (ctest format_check)
# Fuzz corpora and generated files are not C sources and are not listed by
# the patterns below.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tool=${CLANG_FORMAT:-clang-format}
command -v "$tool" >/dev/null || { echo "format: $tool not found (apt-get install clang-format)" >&2; exit 77; }
mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/.*corpus')
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! "$tool" --dry-run -Werror "$f" >/dev/null 2>&1; then
      echo "format: $f differs from .clang-format (run scripts/format.sh)"
      bad=1
    fi
  done
  exit $bad
fi
"$tool" -i "${files[@]}"
