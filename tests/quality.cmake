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
