# Hardening of the shipped binaries, and valgrind over a concertd session.
if(CONCERT_SANITIZE STREQUAL "" AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug"
   AND TARGET concertd AND TARGET concert_cli)
  add_test(NAME hardening_flags
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/hardening/check.sh
                   $<TARGET_FILE:concertd> $<TARGET_FILE:concert_cli> $<TARGET_FILE:concert>)
  add_test(NAME valgrind_concertd
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/valgrind/run.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(valgrind_concertd PROPERTIES TIMEOUT 600)
endif()

# The code is formatted with the root .clang-format (shared/STYLE.md); this
# fails naming each file that differs. Skipped where clang-format is absent.
find_program(CONCERT_CLANG_FORMAT clang-format)
if(CONCERT_CLANG_FORMAT)
  add_test(NAME format_check COMMAND ${CMAKE_SOURCE_DIR}/scripts/format.sh --check)
  set_tests_properties(format_check PROPERTIES
                       ENVIRONMENT "CLANG_FORMAT=${CONCERT_CLANG_FORMAT}" SKIP_RETURN_CODE 77)
endif()
