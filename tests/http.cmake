# concertd's tests: the HTTP contract against a real server (pytest, tests/http/),
# plus api_handle() and the error table without sockets (Criterion).
if(TARGET concertd)
  add_executable(concertd_routes ${CMAKE_CURRENT_SOURCE_DIR}/http/route_dump.c)
  target_link_libraries(concertd_routes PRIVATE concertd_api)

  add_executable(concertd_api_tests ${CMAKE_CURRENT_SOURCE_DIR}/http/test_api_unit.c)
  target_compile_definitions(concertd_api_tests PRIVATE _POSIX_C_SOURCE=200809L)
  target_link_libraries(concertd_api_tests PRIVATE concertd_api PkgConfig::CRITERION)
  add_test(NAME http_api_unit COMMAND concertd_api_tests --jobs 2)
  set_tests_properties(http_api_unit PROPERTIES TIMEOUT 120)

  # --auth, the JWT checks on a clock the test moves, the strict JSON reader,
  # Idempotency-Key rules (issue 11).
  add_executable(concertd_auth_tests ${CMAKE_CURRENT_SOURCE_DIR}/http/test_auth_unit.c)
  target_compile_definitions(concertd_auth_tests PRIVATE _POSIX_C_SOURCE=200809L)
  target_link_libraries(concertd_auth_tests PRIVATE concertd_api PkgConfig::CRITERION)
  add_test(NAME http_auth_unit COMMAND concertd_auth_tests --jobs 2)
  set_tests_properties(http_auth_unit PROPERTIES TIMEOUT 120)

  # The rendered-list cache, ETag and If-None-Match (issue 12), through
  # api_handle() on a store with the fake clock: on memory and on SQLite.
  add_executable(concertd_list_cache_tests ${CMAKE_CURRENT_SOURCE_DIR}/http/test_list_cache_unit.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/support/harness.c)
  target_include_directories(concertd_list_cache_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support)
  target_compile_definitions(concertd_list_cache_tests PRIVATE _POSIX_C_SOURCE=200809L)
  target_link_libraries(concertd_list_cache_tests PRIVATE concertd_api PkgConfig::CRITERION
                        Threads::Threads)
  if(CONCERT_WITH_POSTGRES)
    pkg_check_modules(LIST_CACHE_LIBPQ REQUIRED IMPORTED_TARGET libpq)
    target_link_libraries(concertd_list_cache_tests PRIVATE PkgConfig::LIST_CACHE_LIBPQ)
    target_compile_definitions(concertd_list_cache_tests PRIVATE CONCERT_TEST_HAVE_LIBPQ=1)
  endif()
  add_test(NAME http_list_cache_memory COMMAND concertd_list_cache_tests --jobs 2)
  set_tests_properties(http_list_cache_memory PROPERTIES ENVIRONMENT "CONCERT_TEST_STORE=memory"
                       TIMEOUT 120)
  if(CONCERT_WITH_SQLITE)
    add_test(NAME http_list_cache_sqlite COMMAND concertd_list_cache_tests --jobs 2)
    set_tests_properties(http_list_cache_sqlite PROPERTIES
                         ENVIRONMENT "CONCERT_TEST_STORE=sqlite" TIMEOUT 120)
  endif()

  # The live-update hub (issue 13) through api_handle() with the fake clock:
  # store calls per tick against the number of subscribers, counted by
  # concert_db_stats_get(); on memory and on SQLite.
  add_executable(concertd_sse_tests ${CMAKE_CURRENT_SOURCE_DIR}/http/test_sse_unit.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/support/harness.c)
  target_include_directories(concertd_sse_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support)
  target_compile_definitions(concertd_sse_tests PRIVATE _POSIX_C_SOURCE=200809L)
  target_link_libraries(concertd_sse_tests PRIVATE concertd_api PkgConfig::CRITERION
                        Threads::Threads)
  if(CONCERT_WITH_POSTGRES)
    pkg_check_modules(SSE_LIBPQ REQUIRED IMPORTED_TARGET libpq)
    target_link_libraries(concertd_sse_tests PRIVATE PkgConfig::SSE_LIBPQ)
    target_compile_definitions(concertd_sse_tests PRIVATE CONCERT_TEST_HAVE_LIBPQ=1)
  endif()
  add_test(NAME http_sse_unit_memory COMMAND concertd_sse_tests --jobs 2)
  set_tests_properties(http_sse_unit_memory PROPERTIES ENVIRONMENT "CONCERT_TEST_STORE=memory"
                       TIMEOUT 300)
  if(CONCERT_WITH_SQLITE)
    add_test(NAME http_sse_unit_sqlite COMMAND concertd_sse_tests --jobs 2)
    set_tests_properties(http_sse_unit_sqlite PROPERTIES ENVIRONMENT "CONCERT_TEST_STORE=sqlite"
                         TIMEOUT 300)
  endif()
  # concertd's metrics registry, renderer and hold watcher (issue 13), the
  # watcher on a store with the fake clock.
  add_executable(concertd_metrics_tests ${CMAKE_CURRENT_SOURCE_DIR}/http/test_metrics_unit.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/support/harness.c)
  target_include_directories(concertd_metrics_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support)
  target_compile_definitions(concertd_metrics_tests PRIVATE _POSIX_C_SOURCE=200809L)
  target_link_libraries(concertd_metrics_tests PRIVATE concertd_api PkgConfig::CRITERION
                        Threads::Threads)
  if(CONCERT_WITH_POSTGRES)
    target_link_libraries(concertd_metrics_tests PRIVATE PkgConfig::LIST_CACHE_LIBPQ)
    target_compile_definitions(concertd_metrics_tests PRIVATE CONCERT_TEST_HAVE_LIBPQ=1)
  endif()
  add_test(NAME http_metrics_unit COMMAND concertd_metrics_tests --jobs 2)
  set_tests_properties(http_metrics_unit PROPERTIES ENVIRONMENT "CONCERT_TEST_STORE=memory"
                       TIMEOUT 120)

  # -p no:cacheprovider: never write .pytest_cache into the source tree.
  # --concertd-test: the tests that move time run concertd-test, whose clock
  # is a file they write (examples/server/test_clock.h), instead of sleeping.
  add_test(NAME http_contract
           COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/http
                   --ignore=${CMAKE_CURRENT_SOURCE_DIR}/http/test_sse_many.py
                   --concertd $<TARGET_FILE:concertd>
                   --concertd-test $<TARGET_FILE:concertd-test>
                   --routes-dump $<TARGET_FILE:concertd_routes>)
  set_tests_properties(http_contract PROPERTIES TIMEOUT 600)
  # 2,000 idle SSE subscribers on one server, idle past the connection
  # timeout on purpose (about a minute); -s prints its RSS/CPU/latency line.
  add_test(NAME http_sse_many
           COMMAND /usr/bin/python3 -m pytest -q -s -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/http/test_sse_many.py
                   --concertd $<TARGET_FILE:concertd>
                   --concertd-test $<TARGET_FILE:concertd-test>
                   --routes-dump $<TARGET_FILE:concertd_routes>)
  set_tests_properties(http_sse_many PROPERTIES TIMEOUT 300)
endif()

# The same contract on PostgreSQL, plus an outage (the server is stopped and
# started again mid-test), on a private test server of its own.
if(TARGET concertd AND CONCERT_WITH_POSTGRES)
  set(CONCERTD_PG_CONNINFO ${CMAKE_BINARY_DIR}/pg/http-conninfo)
  add_test(NAME http_postgres_start
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/pg/start.sh ${CONCERTD_PG_CONNINFO})
  add_test(NAME http_postgres_stop
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/pg/stop.sh ${CONCERTD_PG_CONNINFO})
  set_tests_properties(http_postgres_start PROPERTIES FIXTURES_SETUP http_postgres_server
                       SKIP_RETURN_CODE 77)
  set_tests_properties(http_postgres_stop PROPERTIES FIXTURES_CLEANUP http_postgres_server
                       SKIP_RETURN_CODE 77)
  add_test(NAME http_postgres
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/pg/run.sh
                   /usr/bin/python3 -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/http -k postgres
                   --concertd $<TARGET_FILE:concertd>
                   --concertd-test $<TARGET_FILE:concertd-test>
                   --routes-dump $<TARGET_FILE:concertd_routes>
                   --pg-conninfo-file ${CONCERTD_PG_CONNINFO})
  set_tests_properties(http_postgres PROPERTIES FIXTURES_REQUIRED http_postgres_server
                       SKIP_RETURN_CODE 77 TIMEOUT 900)
  # The list cache on PostgreSQL, with a second handle standing for a
  # second concertd process.
  add_test(NAME http_list_cache_postgres
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/pg/run.sh
                   $<TARGET_FILE:concertd_list_cache_tests> --jobs 2)
  set_tests_properties(http_list_cache_postgres PROPERTIES
    FIXTURES_REQUIRED http_postgres_server
    SKIP_RETURN_CODE 77
    TIMEOUT 300
    ENVIRONMENT "CONCERT_TEST_STORE=postgres;CONCERT_TEST_PG_CONNINFO_FILE=${CONCERTD_PG_CONNINFO}")
  # The live-update hub's store calls per tick on PostgreSQL.
  add_test(NAME http_sse_unit_postgres
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/pg/run.sh
                   $<TARGET_FILE:concertd_sse_tests> --jobs 2)
  set_tests_properties(http_sse_unit_postgres PROPERTIES
    FIXTURES_REQUIRED http_postgres_server
    SKIP_RETURN_CODE 77
    TIMEOUT 300
    ENVIRONMENT "CONCERT_TEST_STORE=postgres;CONCERT_TEST_PG_CONNINFO_FILE=${CONCERTD_PG_CONNINFO}")
endif()
