# The web app end to end in a real browser (issue 13): playwright-core (pinned
# in tests/browser/package-lock.json, installed by npm ci into the BUILD
# directory by the browser_setup fixture) drives Debian's /usr/bin/chromium
# headless against a concertd each test starts itself. Without chromium every
# test reports SKIP (exit 77) and says why; scripts/install-deps.sh installs
# chromium, fonts-noto-cjk (Korean text), nodejs and npm so they run.
if(NOT TARGET concertd)
  return()
endif()

set(CONCERT_BROWSER_SRC ${CMAKE_CURRENT_SOURCE_DIR}/browser)
set(CONCERT_BROWSER_DIR ${CMAKE_BINARY_DIR}/browser)
set(CONCERT_BROWSER_TESTS flow race language phone charge queue_states screenshots)

find_program(CONCERT_NODE node)
find_program(CONCERT_NPM npm)
if(NOT CONCERT_NODE OR NOT CONCERT_NPM)
  foreach(t ${CONCERT_BROWSER_TESTS})
    add_test(NAME browser_${t}
             COMMAND sh -c "echo 'SKIP: node or npm not found at configure time (scripts/install-deps.sh installs them)'; exit 77")
    set_tests_properties(browser_${t} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
  return()
endif()

add_test(NAME browser_setup
         COMMAND ${CONCERT_BROWSER_SRC}/setup.sh ${CONCERT_BROWSER_SRC} ${CONCERT_BROWSER_DIR})
set_tests_properties(browser_setup PROPERTIES FIXTURES_SETUP browser SKIP_RETURN_CODE 77
                     TIMEOUT 600)

# One chromium at a time (RESOURCE_LOCK): two cores, and ctest runs -j2.
foreach(t ${CONCERT_BROWSER_TESTS})
  add_test(NAME browser_${t} COMMAND ${CONCERT_NODE} ${CONCERT_BROWSER_SRC}/${t}.test.js)
  set_tests_properties(browser_${t} PROPERTIES
    FIXTURES_REQUIRED browser
    RESOURCE_LOCK chromium
    SKIP_RETURN_CODE 77
    TIMEOUT 300
    ENVIRONMENT "CONCERTD=$<TARGET_FILE:concertd>;CONCERT_BROWSER_DIR=${CONCERT_BROWSER_DIR}")
endforeach()
