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
# The catalog reader is the library's (lib/json/); the target calls it both
# directly and through concert_catalog_load_json().
concert_fuzz_target(fuzz_catalog catalog concert_static)
foreach(t replay_fuzz_catalog fuzz_catalog)
  if(TARGET ${t})
    target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/lib/json)
  endif()
endforeach()
if(TARGET concertd_api)
  concert_fuzz_target(fuzz_http http concertd_api concert_examples_common)
endif()

# Whole byte streams into a running concertd HTTP layer (libmicrohttpd,
# http.c, api_handle()) started in-process: concertd's own sources but main.c.
if(TARGET concertd)
  get_target_property(concertd_sources concertd SOURCES)
  get_target_property(concertd_dir concertd SOURCE_DIR)
  set(stream_sources)
  foreach(src IN LISTS concertd_sources)
    if(NOT src MATCHES "(^|/)main\\.c$")
      if(NOT IS_ABSOLUTE ${src})
        set(src ${concertd_dir}/${src})
      endif()
      list(APPEND stream_sources ${src})
    endif()
  endforeach()
  concert_fuzz_target(fuzz_http_stream http_stream concertd_api concert_examples_common
                      PkgConfig::MHD PkgConfig::JSONC Threads::Threads)
  foreach(t replay_fuzz_http_stream fuzz_http_stream)
    if(TARGET ${t})
      target_sources(${t} PRIVATE ${stream_sources})
      target_compile_definitions(${t} PRIVATE _POSIX_C_SOURCE=200809L)
    endif()
  endforeach()
  set_tests_properties(fuzz_replay_fuzz_http_stream PROPERTIES TIMEOUT 300)
endif()
