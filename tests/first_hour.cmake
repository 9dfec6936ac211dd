# README.md's "Install to a prefix" recipe, run as written on a fresh clone of
# the committed HEAD, as root and as an unprivileged user (tests/first_hour/run.sh).
# Commit first: the test follows HEAD, not the working tree. Builds the
# library twice (about 30 s each on 2 cores).
find_program(CONCERT_GIT git)
if(CONCERT_GIT)
  add_test(NAME first_hour_c
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/first_hour/run.sh ${PROJECT_SOURCE_DIR} 600)
  set_tests_properties(first_hour_c PROPERTIES
    PASS_REGULAR_EXPRESSION "first_hour: OK"
    PROCESSORS 2 TIMEOUT 660)
endif()
