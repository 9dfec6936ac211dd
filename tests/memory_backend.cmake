# The in-memory backend's own tests: its storage table driven directly, at the
# data-structure edges (index growth, seat ranges, admission, expiry, loads,
# a million tokens and seats). The bytes each costs: concert-bench footprint.
add_executable(memory_backend_test ${CMAKE_CURRENT_SOURCE_DIR}/memory_backend_test.c)
target_link_libraries(memory_backend_test PRIVATE concert_static PkgConfig::CRITERION
                      Threads::Threads)
add_test(NAME memory_backend COMMAND memory_backend_test --jobs 2)

# The queue of storage version 2 on the memory store: shared settings,
# states, the pre-queue block and its opening lottery, the admission budget.
add_executable(memory_queue_test ${CMAKE_CURRENT_SOURCE_DIR}/memory_queue_test.c)
target_link_libraries(memory_queue_test PRIVATE concert_static PkgConfig::CRITERION
                      Threads::Threads)
add_test(NAME memory_queue COMMAND memory_queue_test --jobs 2)

# Out-of-memory paths: this test replaces malloc/calloc/realloc, which the
# sanitizers also do, so it is built only without them.
if(CONCERT_SANITIZE STREQUAL "")
  add_executable(memory_backend_oom_test ${CMAKE_CURRENT_SOURCE_DIR}/memory_backend_oom_test.c)
  target_link_libraries(memory_backend_oom_test PRIVATE concert_static PkgConfig::CRITERION
                        Threads::Threads)
  add_test(NAME memory_backend_oom COMMAND memory_backend_oom_test --jobs 2)
endif()

# verify against a store broken by hand: the backend compiled into the test.
# Its sources are globbed like lib/CMakeLists.txt globs them, so a new
# memory*.c file is picked up here too.
file(GLOB MEMORY_BACKEND_SOURCES CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/../lib/storage/memory*.c)
add_executable(memory_verify_test ${CMAKE_CURRENT_SOURCE_DIR}/memory_verify_test.c
               ${MEMORY_BACKEND_SOURCES})
target_compile_definitions(memory_verify_test PRIVATE _POSIX_C_SOURCE=200809L)
target_link_libraries(memory_verify_test PRIVATE concert_static PkgConfig::CRITERION
                      Threads::Threads)
add_test(NAME memory_verify COMMAND memory_verify_test --jobs 2)
