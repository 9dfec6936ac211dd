# The behaviour suite: every rule of the core, run unchanged against every
# store (memory here; sqlite.cmake and postgres.cmake register the others).
file(GLOB BEHAVIOUR_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/behaviour/*.c)
add_executable(concert_behaviour_tests ${BEHAVIOUR_SOURCES}
               ${CMAKE_CURRENT_SOURCE_DIR}/support/harness.c
               ${CMAKE_CURRENT_SOURCE_DIR}/support/counting.c
               ${CMAKE_CURRENT_SOURCE_DIR}/support/races.c
               ${CMAKE_CURRENT_SOURCE_DIR}/support/fault_storage.c)
# The suite also tests some of the core's internal seams, so it sees lib/.
target_include_directories(concert_behaviour_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support
                           ${PROJECT_SOURCE_DIR}/lib)
target_link_libraries(concert_behaviour_tests PRIVATE concert_static PkgConfig::CRITERION
                      Threads::Threads)
target_compile_definitions(concert_behaviour_tests PRIVATE _POSIX_C_SOURCE=200809L)
if(CONCERT_WITH_POSTGRES)
  pkg_check_modules(TEST_LIBPQ REQUIRED IMPORTED_TARGET libpq)
  target_link_libraries(concert_behaviour_tests PRIVATE PkgConfig::TEST_LIBPQ)
  target_compile_definitions(concert_behaviour_tests PRIVATE CONCERT_TEST_HAVE_LIBPQ=1)
endif()

add_test(NAME behaviour_memory COMMAND concert_behaviour_tests --jobs 2)
set_tests_properties(behaviour_memory PROPERTIES ENVIRONMENT "CONCERT_TEST_STORE=memory")

# The same races without Criterion, for the ThreadSanitizer pass (scripts/test.sh).
add_executable(tsan_races ${CMAKE_CURRENT_SOURCE_DIR}/tsan/tsan_races.c
               ${CMAKE_CURRENT_SOURCE_DIR}/support/races.c)
target_include_directories(tsan_races PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support)
target_link_libraries(tsan_races PRIVATE concert_static Threads::Threads)
add_test(NAME races_memory COMMAND tsan_races memory:)
