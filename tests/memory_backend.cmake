# The in-memory backend's own tests: its storage table driven directly, at the
# data-structure edges (index growth, seat ranges, admission, expiry, loads),
# plus memory figures per token and per seat at 1M (printed, not asserted).
add_executable(memory_backend_test ${CMAKE_CURRENT_SOURCE_DIR}/memory_backend_test.c)
target_link_libraries(memory_backend_test PRIVATE concert_static PkgConfig::CRITERION
                      Threads::Threads)
add_test(NAME memory_backend COMMAND memory_backend_test --jobs 2)
