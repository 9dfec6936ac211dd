# Man pages against the programs' --help (issue 15 item 3): every flag the
# program prints is in its man page and the man page lists no other.
# Included by tests/CMakeLists.txt.
if(CONCERT_BUILD_EXAMPLES AND TARGET concertd)
  add_test(NAME docs_man_concertd
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_man_flags.py
                   $<TARGET_FILE:concertd> ${PROJECT_SOURCE_DIR}/docs/man/concertd.8)
endif()
if(CONCERT_BUILD_EXAMPLES AND TARGET concert_cli)
  add_test(NAME docs_man_concert
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_man_flags.py
                   $<TARGET_FILE:concert_cli> ${PROJECT_SOURCE_DIR}/docs/man/concert.1)
endif()
