# Fuzz targets (issue 7): the store URI parser, the catalog JSON parser and
# concertd's request handling. Every normal run replays the seed corpora in
# tests/fuzz/<target>/ through a plain driver; with -DCONCERT_FUZZ=ON (clang)
# the same sources also build as libFuzzer binaries, which scripts/fuzz.sh
# runs for a bounded time under ASan + UBSan.
option(CONCERT_FUZZ "Build libFuzzer targets (needs clang)" OFF)

set(CONCERT_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
function(concert_fuzz_target name corpus)
  set(libs ${ARGN})
  add_executable(replay_${name} ${CONCERT_FUZZ_DIR}/${name}.c ${CONCERT_FUZZ_DIR}/standalone_main.c)
  target_include_directories(replay_${name} PRIVATE ${PROJECT_SOURCE_DIR}/lib)
  target_link_libraries(replay_${name} PRIVATE ${libs})
  file(GLOB seeds ${CONCERT_FUZZ_DIR}/${corpus}/*)
  add_test(NAME fuzz_replay_${name} COMMAND replay_${name} ${seeds})
  if(CONCERT_FUZZ)
    add_executable(${name} ${CONCERT_FUZZ_DIR}/${name}.c)
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/lib)
    target_link_libraries(${name} PRIVATE ${libs})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  endif()
endfunction()

concert_fuzz_target(fuzz_uri uri concert_static)
if(TARGET concert_examples_common)
  concert_fuzz_target(fuzz_catalog catalog concert_examples_common concert_static)
endif()
if(TARGET concertd_api)
  concert_fuzz_target(fuzz_http http concertd_api concert_examples_common)
endif()
