# concertd's tests: the HTTP contract against a real server (pytest, tests/http/),
# plus api_handle() and the error table without sockets (Criterion).
if(TARGET concertd)
  add_executable(concertd_routes ${CMAKE_CURRENT_SOURCE_DIR}/http/route_dump.c)
  target_link_libraries(concertd_routes PRIVATE concertd_api)

  add_executable(concertd_api_tests ${CMAKE_CURRENT_SOURCE_DIR}/http/test_api_unit.c)
  target_compile_definitions(concertd_api_tests PRIVATE _POSIX_C_SOURCE=200809L)
  target_link_libraries(concertd_api_tests PRIVATE concertd_api PkgConfig::CRITERION)
  add_test(NAME http_api_unit COMMAND concertd_api_tests --jobs 2)
  set_tests_properties(http_api_unit PROPERTIES TIMEOUT 120)

  # -p no:cacheprovider: never write .pytest_cache into the source tree.
  add_test(NAME http_contract
           COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/http
                   --concertd $<TARGET_FILE:concertd>
                   --routes-dump $<TARGET_FILE:concertd_routes>)
  set_tests_properties(http_contract PROPERTIES TIMEOUT 600)
endif()
