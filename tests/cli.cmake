# The time and catalog parsers (lib/json/, the library's catalog reader, which
# concertd and the CLI share), examples/common (demo catalog) and the concert
# CLI (issues 4 and 7). Included by tests/CMakeLists.txt.
set(CLI_TEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/cli)
set(CLI_COMMON_DIR ${PROJECT_SOURCE_DIR}/examples/common)
set(CLI_JSON_DIR ${PROJECT_SOURCE_DIR}/lib/json)

# The parsers are tested from their sources alone (no store, no library
# functions), exactly as a fuzzer builds them.
add_executable(test_cli_timefmt ${CLI_TEST_DIR}/test_timefmt.c ${CLI_JSON_DIR}/timefmt.c)
target_include_directories(test_cli_timefmt PRIVATE ${CLI_JSON_DIR} ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(test_cli_timefmt PRIVATE PkgConfig::CRITERION)
add_test(NAME cli_timefmt COMMAND test_cli_timefmt --jobs 2)

if(TARGET PkgConfig::JSONC)
  add_executable(test_cli_catalog_json ${CLI_TEST_DIR}/test_catalog_json.c
                 ${CLI_JSON_DIR}/catalog_parse.c ${CLI_JSON_DIR}/json_strict.c
                 ${CLI_JSON_DIR}/json_strict_dup.c
                 ${CLI_JSON_DIR}/timefmt.c)
  target_include_directories(test_cli_catalog_json PRIVATE ${CLI_JSON_DIR}
                             ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(test_cli_catalog_json PRIVATE PkgConfig::JSONC PkgConfig::CRITERION)
  add_test(NAME cli_catalog_json COMMAND test_cli_catalog_json --jobs 2)
endif()

if(TARGET concert_examples_common)
  add_executable(test_cli_demo_catalog ${CLI_TEST_DIR}/test_demo_catalog.c)
  target_link_libraries(test_cli_demo_catalog PRIVATE concert_examples_common
                        PkgConfig::CRITERION)
  add_test(NAME cli_demo_catalog COMMAND test_cli_demo_catalog --jobs 2)
  set_tests_properties(cli_demo_catalog PROPERTIES ENVIRONMENT "CONCERT_TEST_STORE=memory:")
endif()

# The CLI end to end, as a user runs it, on temporary SQLite stores.
if(TARGET concert_cli AND CONCERT_WITH_SQLITE)
  add_test(NAME cli_end_to_end
           COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${CLI_TEST_DIR}/test_cli.py)
  # CONCERT_LIB lets the test put tokens in the queue through ctypes. A
  # sanitized libconcert cannot be loaded into an uninstrumented python, so
  # in those builds the two queue tests skip (the behaviour suite covers them).
  set(cli_test_env "CONCERT_CLI=$<TARGET_FILE:concert_cli>")
  if(CONCERT_SANITIZE STREQUAL "")
    list(APPEND cli_test_env "CONCERT_LIB=$<TARGET_FILE:concert>")
  endif()
  set_tests_properties(cli_end_to_end PROPERTIES TIMEOUT 300 ENVIRONMENT "${cli_test_env}")
endif()

# A valgrind memcheck of a whole CLI session: no errors, no leaks.
find_program(CLI_VALGRIND valgrind)
if(TARGET concert_cli AND CONCERT_WITH_SQLITE AND CLI_VALGRIND AND CONCERT_SANITIZE STREQUAL "")
  add_test(NAME cli_valgrind
           COMMAND sh ${CLI_TEST_DIR}/valgrind_cli.sh $<TARGET_FILE:concert_cli>
                   ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/catalog)
  set_tests_properties(cli_valgrind PROPERTIES TIMEOUT 600)
endif()
