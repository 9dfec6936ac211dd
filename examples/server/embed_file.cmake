# Turn INPUT (a file) into OUTPUT (a C source defining SYMBOL, SYMBOL_len and
# SYMBOL_etag) at build time, so that concertd serves the very file kept in
# the repository. SYMBOL_etag is a strong entity tag made from the content's
# SHA-256 (quotes included): a new build with the same file keeps its tag, so
# browsers keep their copy across restarts and upgrades that did not change it.
# Usage: cmake -DINPUT=... -DOUTPUT=... -DSYMBOL=... -DHEADER=... -P embed_file.cmake
file(READ "${INPUT}" hex HEX)
file(SHA256 "${INPUT}" digest)
string(SUBSTRING "${digest}" 0 32 digest)
string(LENGTH "${hex}" hex_length)
math(EXPR byte_count "${hex_length} / 2")
# 16 bytes per line keeps the generated file readable in a debugger.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
  "/* Generated from ${INPUT} by embed_file.cmake; do not edit. */\n"
  "#include \"${HEADER}\"\n\n"
  "const unsigned char ${SYMBOL}[] = {\n    ${bytes}0x00};\n"
  "const size_t ${SYMBOL}_len = ${byte_count};\n"
  "const char ${SYMBOL}_etag[] = \"\\\"${digest}\\\"\";\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
