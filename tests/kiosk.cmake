# The box-office kiosk (examples/kiosk, issue 15): driven through a
# pseudo-terminal by Python's pty module, with the concert CLI to load the
# demo catalog and verify the store after a kill -9 mid-sale.
if(EXISTS /usr/bin/python3 AND TARGET concert_kiosk AND TARGET concert_cli)
  add_test(NAME kiosk_pty
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/kiosk/kiosk_pty.py
                   $<TARGET_FILE:concert_kiosk> $<TARGET_FILE:concert_cli>)
  set_tests_properties(kiosk_pty PROPERTIES
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" TIMEOUT 120)
endif()
