# The deterministic simulation (tests/sim/): seeded buyers through the public
# API on every store, faults injected through tests/support/fault_storage.c,
# every invariant checked after every step. A fixed seed set, bounded in
# time; `concert-sim --seeds N` runs more. tests/sim/regressions.txt keeps
# every seed that once found a bug. Per CI run: 1,500,000 operations on
# memory, 50,000 on SQLite and 50,000 on PostgreSQL (plus the regression
# seeds); --time-limit only guards against a machine far slower than ours.
add_executable(concert-sim ${CMAKE_CURRENT_SOURCE_DIR}/sim/sim_main.c
               ${CMAKE_CURRENT_SOURCE_DIR}/sim/sim_run.c
               ${CMAKE_CURRENT_SOURCE_DIR}/sim/sim_model.c
               ${CMAKE_CURRENT_SOURCE_DIR}/sim/sim_audit.c
               ${CMAKE_CURRENT_SOURCE_DIR}/support/fault_storage.c)
target_include_directories(concert-sim PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support
                           ${CMAKE_CURRENT_SOURCE_DIR}/sim)
target_link_libraries(concert-sim PRIVATE concert_static Threads::Threads)
if(CONCERT_WITH_POSTGRES)
  pkg_check_modules(SIM_LIBPQ REQUIRED IMPORTED_TARGET libpq)
  target_link_libraries(concert-sim PRIVATE PkgConfig::SIM_LIBPQ)
  target_compile_definitions(concert-sim PRIVATE CONCERT_SIM_HAVE_LIBPQ=1)
endif()

set(CONCERT_SIM_REGRESSIONS ${CMAKE_CURRENT_SOURCE_DIR}/sim/regressions.txt)
add_test(NAME sim_memory
         COMMAND concert-sim --store memory --seed 1 --seeds 50 --ops 30000 --time-limit 150
                 --regressions ${CONCERT_SIM_REGRESSIONS})
add_test(NAME sim_sqlite
         COMMAND concert-sim --store sqlite --seed 1 --seeds 5 --ops 10000 --time-limit 200
                 --regressions ${CONCERT_SIM_REGRESSIONS})
set_tests_properties(sim_memory sim_sqlite PROPERTIES TIMEOUT 300)
if(CONCERT_WITH_POSTGRES)
  add_test(NAME sim_postgres
           COMMAND ${CONCERT_PG_SCRIPTS}/run.sh $<TARGET_FILE:concert-sim> --store postgres
                   --seed 1 --seeds 5 --ops 10000 --time-limit 240
                   --regressions ${CONCERT_SIM_REGRESSIONS})
  set_tests_properties(sim_postgres PROPERTIES
    FIXTURES_REQUIRED postgres_server SKIP_RETURN_CODE 77 TIMEOUT 300
    ENVIRONMENT "CONCERT_TEST_PG_CONNINFO_FILE=${CMAKE_BINARY_DIR}/pg/conninfo")
endif()
