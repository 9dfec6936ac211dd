# The box-office kiosk (examples/kiosk, issue 15): driven through a
# pseudo-terminal by Python's pty module, with the concert CLI to load the
# demo catalog and verify the store. kiosk_pty: the sale screens (walk-up
# question, party, release, expiry); kiosk_kill: kill -9 at every point of a
# sale, restart, verify, re-type pay.
if(EXISTS /usr/bin/python3 AND TARGET concert_kiosk AND TARGET concert_cli)
  foreach(t pty kill)
    add_test(NAME kiosk_${t}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/kiosk/kiosk_${t}.py
                     $<TARGET_FILE:concert_kiosk> $<TARGET_FILE:concert_cli>)
    set_tests_properties(kiosk_${t} PROPERTIES
      ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" TIMEOUT 300)
  endforeach()
endif()
