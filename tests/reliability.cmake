# Fault tests of issue 7 (tests/reliability/, docs/reliability.md): real
# concertd processes on 127.0.0.1 driven by /usr/bin/python3 (standard
# library only; -B: no __pycache__ in the source tree). Each test prints its
# figures on a "RESULT" line. They run one at a time (RUN_SERIAL): they load
# both cores and measure answer times.
# PostgreSQL ones start a private throwaway server (tests/pg/start.sh) and
# report SKIP (exit 77) with CONCERT_SKIP_POSTGRES=1.
if(NOT TARGET concertd OR NOT TARGET concert_cli)
  return()
endif()

set(CONCERT_REL_DIR ${CMAKE_CURRENT_SOURCE_DIR}/reliability)
set(CONCERT_REL_BINS --concertd $<TARGET_FILE:concertd> --concert $<TARGET_FILE:concert_cli>)

function(concert_reliability_test name script)
  add_test(NAME ${name}
           COMMAND /usr/bin/python3 -B ${CONCERT_REL_DIR}/${script} ${CONCERT_REL_BINS} ${ARGN})
  set_tests_properties(${name} PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
                       LABELS reliability)
endfunction()

if(CONCERT_WITH_SQLITE)
  concert_reliability_test(reliability_crash_sqlite crash.py --store sqlite --kills 8)
  concert_reliability_test(reliability_sqlite_disk sqlite_disk.py)
  concert_reliability_test(reliability_load load.py --store sqlite)
  # The same race as below, with several processes on one SQLite file.
  concert_reliability_test(reliability_many_servers_sqlite many_servers.py --store sqlite
                           --servers 3)
endif()

# The crash test must be able to fail: on a store that forgets everything at
# each kill (memory:, catalog imported again at each restart) it must report
# lost acknowledged writes.
concert_reliability_test(reliability_crash_selfcheck crash.py --store memory --kills 3)
set_tests_properties(reliability_crash_selfcheck PROPERTIES
                     PASS_REGULAR_EXPRESSION "RESULT memory: .* [1-9][0-9,]* lost")

if(CONCERT_WITH_POSTGRES)
  concert_reliability_test(reliability_crash_postgres crash.py --store postgres --kills 8)
  concert_reliability_test(reliability_many_servers_postgres many_servers.py --servers 3)
  concert_reliability_test(reliability_outage_postgres outage_pg.py)
  concert_reliability_test(reliability_load_postgres load.py --store postgres)
  # A proxy withholds the server's reply to a committed unkeyed charge and to
  # a block's COMMIT (dropped, or FATAL 57P01 in its place): applied once,
  # never re-run; a read under the same fault is retried.
  concert_reliability_test(reliability_commit_lost_postgres pg_commit_proxy.py)
  # A PostgreSQL that hangs rather than goes away (SIGSTOP), 8 times: about
  # 90 s of freezes and recoveries, hence the longer timeout.
  concert_reliability_test(reliability_freeze_postgres freeze_pg.py --cycles 8)
  set_tests_properties(reliability_freeze_postgres PROPERTIES TIMEOUT 300)
else()
  foreach(name reliability_crash_postgres reliability_many_servers_postgres
               reliability_outage_postgres reliability_load_postgres
               reliability_commit_lost_postgres reliability_freeze_postgres)
    add_test(NAME ${name} COMMAND sh -c "echo 'SKIP: built with CONCERT_WITH_POSTGRES=OFF'; exit 77")
    set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 LABELS reliability)
  endforeach()
endif()
