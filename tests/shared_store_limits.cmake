# Per-buyer hold limits with one buyer's token used from several processes at
# once (issue 11), on the stores that several processes share. Included after
# postgres.cmake (the files are included in name order), whose server fixture
# and scripts it uses.
add_executable(mp_limit ${CMAKE_CURRENT_SOURCE_DIR}/multiprocess/mp_limit.c)
target_link_libraries(mp_limit PRIVATE concert_static Threads::Threads)

if(CONCERT_WITH_SQLITE)
  set(CONCERT_MP_LIMIT_SQLITE_DB ${CMAKE_CURRENT_BINARY_DIR}/mp_limit_sqlite.db)
  add_test(NAME mp_limit_sqlite_fresh
           COMMAND ${CMAKE_COMMAND} -E rm -f ${CONCERT_MP_LIMIT_SQLITE_DB}
                   ${CONCERT_MP_LIMIT_SQLITE_DB}-wal ${CONCERT_MP_LIMIT_SQLITE_DB}-shm)
  set_tests_properties(mp_limit_sqlite_fresh PROPERTIES FIXTURES_SETUP mp_limit_sqlite_fresh)
  add_test(NAME mp_limit_sqlite COMMAND mp_limit sqlite:${CONCERT_MP_LIMIT_SQLITE_DB} 8)
  set_tests_properties(mp_limit_sqlite PROPERTIES FIXTURES_REQUIRED mp_limit_sqlite_fresh
                       TIMEOUT 300)
endif()

if(CONCERT_WITH_POSTGRES AND DEFINED CONCERT_PG_SCRIPTS)
  add_test(NAME mp_limit_postgres
           COMMAND ${CONCERT_PG_SCRIPTS}/run.sh ${CONCERT_PG_SCRIPTS}/with_db.sh
                   ${CONCERT_PG_CONNINFO} $<TARGET_FILE:mp_limit> 8)
  set_tests_properties(mp_limit_postgres PROPERTIES
    FIXTURES_REQUIRED postgres_server SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "CONCERT_TEST_PG_CONNINFO_FILE=${CONCERT_PG_CONNINFO}")
endif()
