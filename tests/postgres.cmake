# PostgreSQL tests. Each fixture starts a throwaway server (tests/pg/start.sh:
# initdb + pg_ctl in a temporary directory, as "nobody" when run as root) and
# removes it afterwards (stop.sh). With CONCERT_SKIP_POSTGRES=1 in the
# environment every PostgreSQL test reports SKIP (exit 77) and says why.
set(CONCERT_PG_SCRIPTS ${CMAKE_CURRENT_SOURCE_DIR}/pg)

if(NOT CONCERT_WITH_POSTGRES)
  add_test(NAME behaviour_postgres
           COMMAND sh -c "echo 'SKIP: built with CONCERT_WITH_POSTGRES=OFF'; exit 77")
  set_tests_properties(behaviour_postgres PROPERTIES SKIP_RETURN_CODE 77)
  return()
endif()

# Shared server for the behaviour suite (one fresh database per test).
set(CONCERT_PG_CONNINFO ${CMAKE_BINARY_DIR}/pg/conninfo)
add_test(NAME postgres_server_start COMMAND ${CONCERT_PG_SCRIPTS}/start.sh ${CONCERT_PG_CONNINFO})
add_test(NAME postgres_server_stop COMMAND ${CONCERT_PG_SCRIPTS}/stop.sh ${CONCERT_PG_CONNINFO})
set_tests_properties(postgres_server_start PROPERTIES FIXTURES_SETUP postgres_server
                     SKIP_RETURN_CODE 77)
set_tests_properties(postgres_server_stop PROPERTIES FIXTURES_CLEANUP postgres_server
                     SKIP_RETURN_CODE 77)

add_test(NAME behaviour_postgres
         COMMAND ${CONCERT_PG_SCRIPTS}/run.sh $<TARGET_FILE:concert_behaviour_tests> --jobs 2)
set_tests_properties(behaviour_postgres PROPERTIES
  FIXTURES_REQUIRED postgres_server
  SKIP_RETURN_CODE 77
  TIMEOUT 900
  ENVIRONMENT "CONCERT_TEST_STORE=postgres;CONCERT_TEST_PG_CONNINFO_FILE=${CONCERT_PG_CONNINFO}")

# The backend's own tests stop and restart their server, so they get a
# private one and run one at a time.
set(CONCERT_PG_PRIVATE_CONNINFO ${CMAKE_BINARY_DIR}/pg/private-conninfo)
add_test(NAME postgres_private_start
         COMMAND ${CONCERT_PG_SCRIPTS}/start.sh ${CONCERT_PG_PRIVATE_CONNINFO})
add_test(NAME postgres_private_stop
         COMMAND ${CONCERT_PG_SCRIPTS}/stop.sh ${CONCERT_PG_PRIVATE_CONNINFO})
set_tests_properties(postgres_private_start PROPERTIES FIXTURES_SETUP postgres_private
                     SKIP_RETURN_CODE 77)
set_tests_properties(postgres_private_stop PROPERTIES FIXTURES_CLEANUP postgres_private
                     SKIP_RETURN_CODE 77)

pkg_check_modules(PG_TEST_LIBPQ REQUIRED IMPORTED_TARGET libpq)
add_executable(concert_postgres_backend_tests ${CMAKE_CURRENT_SOURCE_DIR}/postgres_backend_test.c)
target_link_libraries(concert_postgres_backend_tests PRIVATE concert_static
                      PkgConfig::CRITERION PkgConfig::PG_TEST_LIBPQ Threads::Threads)
add_test(NAME postgres_backend
         COMMAND ${CONCERT_PG_SCRIPTS}/run.sh $<TARGET_FILE:concert_postgres_backend_tests>
                 --jobs 1)
set_tests_properties(postgres_backend PROPERTIES
  FIXTURES_REQUIRED postgres_private
  SKIP_RETURN_CODE 77
  TIMEOUT 600
  ENVIRONMENT "CONCERT_TEST_PG_CONNINFO_FILE=${CONCERT_PG_PRIVATE_CONNINFO};CONCERT_TEST_PG_CTL=${CONCERT_PG_SCRIPTS}/ctl.sh")

# The retry policy's table (no server needed).
add_executable(concert_postgres_classify_tests ${CMAKE_CURRENT_SOURCE_DIR}/postgres_classify_test.c)
target_link_libraries(concert_postgres_classify_tests PRIVATE concert_static
                      PkgConfig::CRITERION PkgConfig::PG_TEST_LIBPQ Threads::Threads)
add_test(NAME postgres_classify COMMAND concert_postgres_classify_tests)

# The multi-process race (several processes, one store): the same program as
# for SQLite, on a fresh database. Guarded in case another file defines it.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/multiprocess/mp_race.c)
  if(NOT TARGET mp_race)
    add_executable(mp_race ${CMAKE_CURRENT_SOURCE_DIR}/multiprocess/mp_race.c)
    target_link_libraries(mp_race PRIVATE concert_static Threads::Threads)
  endif()
  add_test(NAME multiprocess_postgres
           COMMAND ${CONCERT_PG_SCRIPTS}/run.sh ${CONCERT_PG_SCRIPTS}/with_db.sh
                   ${CONCERT_PG_CONNINFO} $<TARGET_FILE:mp_race> 8)
  set_tests_properties(multiprocess_postgres PROPERTIES
    FIXTURES_REQUIRED postgres_server SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "CONCERT_TEST_PG_CONNINFO_FILE=${CONCERT_PG_CONNINFO}")
endif()

# The waiting room's shared settings under several processes (issue 10).
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/multiprocess/mp_queue.c)
  if(NOT TARGET mp_queue)
    add_executable(mp_queue ${CMAKE_CURRENT_SOURCE_DIR}/multiprocess/mp_queue.c)
    target_link_libraries(mp_queue PRIVATE concert_static Threads::Threads)
  endif()
  add_test(NAME mp_queue_postgres
           COMMAND ${CONCERT_PG_SCRIPTS}/run.sh ${CONCERT_PG_SCRIPTS}/with_db.sh
                   ${CONCERT_PG_CONNINFO} $<TARGET_FILE:mp_queue> 4)
  set_tests_properties(mp_queue_postgres PROPERTIES
    FIXTURES_REQUIRED postgres_server SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "CONCERT_TEST_PG_CONNINFO_FILE=${CONCERT_PG_CONNINFO}")
endif()

# The free lists' versions across two processes (issue 12): a change one
# process commits is in the other's next version call, nothing else changes
# it. The same program as for SQLite (tests/sqlite.cmake), on a fresh database.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/multiprocess/mp_version.c)
  if(NOT TARGET mp_version)
    add_executable(mp_version ${CMAKE_CURRENT_SOURCE_DIR}/multiprocess/mp_version.c)
    target_link_libraries(mp_version PRIVATE concert_static)
  endif()
  add_test(NAME mp_version_postgres
           COMMAND ${CONCERT_PG_SCRIPTS}/run.sh ${CONCERT_PG_SCRIPTS}/with_db.sh
                   ${CONCERT_PG_CONNINFO} $<TARGET_FILE:mp_version> 3)
  set_tests_properties(mp_version_postgres PROPERTIES
    FIXTURES_REQUIRED postgres_server SKIP_RETURN_CODE 77 TIMEOUT 300
    ENVIRONMENT "CONCERT_TEST_PG_CONNINFO_FILE=${CONCERT_PG_CONNINFO}")
endif()
