# SQLite backend tests: the shared behaviour suite on a fresh SQLite file per
# test, the backend's own tests (schema versions and the migrations from
# files older libconcerts wrote, durability across kill -9, read-only and
# full disks, busy store, two handles, the token fence across processes),
# the multi-process race on one file, the free lists' versions across
# processes, and the thread races (tsan_races, which
# scripts/test.sh also runs under ThreadSanitizer) on SQLite.

# The race program is store-agnostic (PostgreSQL runs it too), so it is built
# whatever backends are on. Guarded in case an earlier file defines it.
if(NOT TARGET mp_race)
  add_executable(mp_race ${CMAKE_CURRENT_SOURCE_DIR}/multiprocess/mp_race.c)
  target_link_libraries(mp_race PRIVATE concert_static Threads::Threads)
endif()
if(NOT TARGET mp_queue)
  add_executable(mp_queue ${CMAKE_CURRENT_SOURCE_DIR}/multiprocess/mp_queue.c)
  target_link_libraries(mp_queue PRIVATE concert_static Threads::Threads)
endif()
# The free lists' versions seen across processes (issue 12); PostgreSQL runs
# it too, on a fresh database.
if(NOT TARGET mp_version)
  add_executable(mp_version ${CMAKE_CURRENT_SOURCE_DIR}/multiprocess/mp_version.c)
  target_link_libraries(mp_version PRIVATE concert_static)
endif()

if(NOT CONCERT_WITH_SQLITE)
  add_test(NAME behaviour_sqlite
           COMMAND sh -c "echo 'SKIP: built with CONCERT_WITH_SQLITE=OFF'; exit 77")
  set_tests_properties(behaviour_sqlite PROPERTIES SKIP_RETURN_CODE 77)
  return()
endif()

# One Criterion worker under the sanitizers: with two, LeakSanitizer reports in
# most full ASan runs 48 bytes calloc'ed inside libcriterion's runner (no frame
# of ours; never with one worker, never in a part of the suite).
if(CONCERT_SANITIZE)
  set(BEHAVIOUR_SQLITE_JOBS 1)
else()
  set(BEHAVIOUR_SQLITE_JOBS 2)
endif()
add_test(NAME behaviour_sqlite COMMAND concert_behaviour_tests --jobs ${BEHAVIOUR_SQLITE_JOBS})
set_tests_properties(behaviour_sqlite PROPERTIES ENVIRONMENT "CONCERT_TEST_STORE=sqlite"
                     TIMEOUT 600)

pkg_check_modules(SQLITE_TEST_SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
add_executable(sqlite_backend_test ${CMAKE_CURRENT_SOURCE_DIR}/sqlite_backend_test.c)
target_link_libraries(sqlite_backend_test PRIVATE concert_static PkgConfig::CRITERION
                      PkgConfig::SQLITE_TEST_SQLITE3 Threads::Threads)
add_test(NAME sqlite_backend COMMAND sqlite_backend_test --jobs 2)
set_tests_properties(sqlite_backend PROPERTIES TIMEOUT 300)

# mp_race needs an empty store: a setup step removes the previous run's file.
set(CONCERT_MP_SQLITE_DB ${CMAKE_CURRENT_BINARY_DIR}/mp_race_sqlite.db)
add_test(NAME multiprocess_sqlite_fresh
         COMMAND ${CMAKE_COMMAND} -E rm -f ${CONCERT_MP_SQLITE_DB} ${CONCERT_MP_SQLITE_DB}-wal
                 ${CONCERT_MP_SQLITE_DB}-shm)
set_tests_properties(multiprocess_sqlite_fresh PROPERTIES FIXTURES_SETUP mp_sqlite_fresh)
add_test(NAME multiprocess_sqlite COMMAND mp_race sqlite:${CONCERT_MP_SQLITE_DB} 8)
set_tests_properties(multiprocess_sqlite PROPERTIES FIXTURES_REQUIRED mp_sqlite_fresh
                     TIMEOUT 300)

# The waiting room's shared settings under several processes (issue 10).
set(CONCERT_MP_QUEUE_SQLITE_DB ${CMAKE_CURRENT_BINARY_DIR}/mp_queue_sqlite.db)
add_test(NAME mp_queue_sqlite_fresh
         COMMAND ${CMAKE_COMMAND} -E rm -f ${CONCERT_MP_QUEUE_SQLITE_DB}
                 ${CONCERT_MP_QUEUE_SQLITE_DB}-wal ${CONCERT_MP_QUEUE_SQLITE_DB}-shm)
set_tests_properties(mp_queue_sqlite_fresh PROPERTIES FIXTURES_SETUP mp_queue_sqlite_fresh)
add_test(NAME mp_queue_sqlite COMMAND mp_queue sqlite:${CONCERT_MP_QUEUE_SQLITE_DB} 4)
set_tests_properties(mp_queue_sqlite PROPERTIES FIXTURES_REQUIRED mp_queue_sqlite_fresh
                     TIMEOUT 300)

# The thread races on SQLite: the writer's mutex and the reader pool under 64
# threads (one seat, one balance, one payment, queue polls).
set(CONCERT_RACES_SQLITE_DB ${CMAKE_CURRENT_BINARY_DIR}/races_sqlite.db)
add_test(NAME races_sqlite_fresh
         COMMAND ${CMAKE_COMMAND} -E rm -f ${CONCERT_RACES_SQLITE_DB}
                 ${CONCERT_RACES_SQLITE_DB}-wal ${CONCERT_RACES_SQLITE_DB}-shm
                 ${CONCERT_RACES_SQLITE_DB}-poll ${CONCERT_RACES_SQLITE_DB}-poll-wal
                 ${CONCERT_RACES_SQLITE_DB}-poll-shm)
set_tests_properties(races_sqlite_fresh PROPERTIES FIXTURES_SETUP races_sqlite_fresh)
add_test(NAME races_sqlite COMMAND tsan_races sqlite:${CONCERT_RACES_SQLITE_DB})
set_tests_properties(races_sqlite PROPERTIES FIXTURES_REQUIRED races_sqlite_fresh TIMEOUT 300)

# A change committed by one process is in another's next version call.
set(CONCERT_MP_VERSION_SQLITE_DB ${CMAKE_CURRENT_BINARY_DIR}/mp_version_sqlite.db)
add_test(NAME mp_version_sqlite_fresh
         COMMAND ${CMAKE_COMMAND} -E rm -f ${CONCERT_MP_VERSION_SQLITE_DB}
                 ${CONCERT_MP_VERSION_SQLITE_DB}-wal ${CONCERT_MP_VERSION_SQLITE_DB}-shm)
set_tests_properties(mp_version_sqlite_fresh PROPERTIES FIXTURES_SETUP mp_version_sqlite_fresh)
add_test(NAME mp_version_sqlite COMMAND mp_version sqlite:${CONCERT_MP_VERSION_SQLITE_DB} 3)
set_tests_properties(mp_version_sqlite PROPERTIES FIXTURES_REQUIRED mp_version_sqlite_fresh
                     TIMEOUT 300)
