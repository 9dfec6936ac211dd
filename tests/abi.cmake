# API and ABI stability.
#  abi_versions: every versioned public struct at every version it shipped
#    in, as an old caller passes it (linked against the shared library).
#  abi_check: the exported ABI against the last release's (abi/), with
#    abidiff; skipped (77) where abigail-tools is missing or the build has no
#    debug info or is instrumented.
add_executable(abi_versions_test ${CMAKE_CURRENT_SOURCE_DIR}/abi_versions_test.c)
target_link_libraries(abi_versions_test PRIVATE concert PkgConfig::CRITERION)
add_test(NAME abi_versions COMMAND abi_versions_test --jobs 2)
set_tests_properties(abi_versions PROPERTIES LABELS abi)

if(CONCERT_SANITIZE STREQUAL "" AND CMAKE_BUILD_TYPE MATCHES "^(RelWithDebInfo|Debug)$")
  add_test(NAME abi_check
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/abi-check.sh $<TARGET_FILE:concert>)
  set_tests_properties(abi_check PROPERTIES LABELS abi SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
