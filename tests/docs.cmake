# Man pages against the programs' --help (issue 15 item 3): every flag the
# program prints is in its man page and the man page lists no other; for
# concert, the same per command (`concert COMMAND --help`); and .TH carries
# the version the program prints. The pages are the ones docs/CMakeLists.txt
# configures (and installs).
# Included by tests/CMakeLists.txt.
if(CONCERT_BUILD_EXAMPLES AND TARGET concertd)
  add_test(NAME docs_man_concertd
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_man_flags.py
                   $<TARGET_FILE:concertd> ${PROJECT_BINARY_DIR}/docs/man/concertd.8)
endif()
if(CONCERT_BUILD_EXAMPLES AND TARGET concert_cli)
  add_test(NAME docs_man_concert
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_man_flags.py
                   $<TARGET_FILE:concert_cli> ${PROJECT_BINARY_DIR}/docs/man/concert.1)
endif()
if(CONCERT_BUILD_EXAMPLES AND TARGET concert_kiosk)
  add_test(NAME docs_man_kiosk
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_man_flags.py
                   $<TARGET_FILE:concert_kiosk> ${PROJECT_BINARY_DIR}/docs/man/concert-kiosk.1)
endif()

# API reference (issue 15 item 3): doxygen, with the project's Doxyfile and
# warnings as errors, documents every public function, type, field and macro
# of include/concert; the test names what is not. Not registered without
# doxygen (scripts/install-deps.sh installs it); 77 (skip) if it vanished
# since configuring.
find_program(CONCERT_DOXYGEN_FOR_TESTS NAMES doxygen)
if(CONCERT_DOXYGEN_FOR_TESTS)
  set(CONCERT_DOXYGEN_WARN_AS_ERROR FAIL_ON_WARNINGS)
  set(_concert_doxygen_dir ${CMAKE_CURRENT_BINARY_DIR}/docs-doxygen)
  # Doxyfile.in writes to @CMAKE_CURRENT_BINARY_DIR@; the script overrides
  # the output and log paths with its own work directory.
  configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${_concert_doxygen_dir}/Doxyfile.base @ONLY)
  add_test(NAME docs_doxygen
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_doxygen.py
                   ${CONCERT_DOXYGEN_FOR_TESTS} ${_concert_doxygen_dir}/Doxyfile.base
                   ${_concert_doxygen_dir}/run)
  set_tests_properties(docs_doxygen PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()

# README's options table against the library's own table (one source of
# truth, issue 15 item 5): a range changed in lib/options.c fails here until
# README says so too.
# Python loads the library with ctypes, which a sanitizer build cannot do (the
# sanitizer runtime must come first); the normal build runs it.
if(CONCERT_SANITIZE STREQUAL "")
  add_test(NAME docs_readme_options
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_readme_options.py
                   ${PROJECT_SOURCE_DIR}/README.md $<TARGET_FILE:concert>)
endif()
