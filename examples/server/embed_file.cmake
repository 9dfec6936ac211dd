# Turn INPUT (a file) into OUTPUT (a C source defining SYMBOL and SYMBOL_len)
# at build time, so that concertd serves the very file kept in the repository.
# Usage: cmake -DINPUT=... -DOUTPUT=... -DSYMBOL=... -DHEADER=... -P embed_file.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR byte_count "${hex_length} / 2")
# 16 bytes per line keeps the generated file readable in a debugger.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
  "/* Generated from ${INPUT} by embed_file.cmake; do not edit. */\n"
  "#include \"${HEADER}\"\n\n"
  "const unsigned char ${SYMBOL}[] = {\n    ${bytes}0x00};\n"
  "const size_t ${SYMBOL}_len = ${byte_count};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
