# Go binding (issue 5): go vet, go test, go test -race and the README example,
# built against the library in this build tree. Offline by construction:
# GOPROXY=off, and the binding uses only the standard library.
find_program(GO_EXECUTABLE go)
if(NOT GO_EXECUTABLE)
  message(STATUS "go not found: Go binding tests not registered")
elseif(NOT CONCERT_SANITIZE STREQUAL "")
  # cgo would have to link the sanitizer runtimes; the C suites cover those builds.
  message(STATUS "CONCERT_SANITIZE set: Go binding tests not registered")
else()
  set(CONCERT_GO_WORK ${CMAKE_BINARY_DIR}/go)
  # A libconcert.pc for the build tree: headers from the source, the shared
  # library from where it is built, with an rpath so test binaries find it.
  file(GENERATE OUTPUT ${CONCERT_GO_WORK}/pkgconfig/libconcert.pc CONTENT
"Name: libconcert
Description: libconcert from the build tree (Go binding tests)
Version: ${PROJECT_VERSION}
Libs: -L$<TARGET_FILE_DIR:concert> -Wl,-rpath,$<TARGET_FILE_DIR:concert> -lconcert
Cflags: -I${PROJECT_SOURCE_DIR}/include
")
  set(CONCERT_GO_ENV
    "PKG_CONFIG_PATH=${CONCERT_GO_WORK}/pkgconfig"
    "GOCACHE=${CONCERT_GO_WORK}/cache"
    "GOPATH=${CONCERT_GO_WORK}/gopath"
    "GOFLAGS=-mod=mod"
    "GOPROXY=off"
    "GO111MODULE=on"
    "CGO_ENABLED=1"
    "CONCERT_GO_WORKDIR=${CONCERT_GO_WORK}")
  foreach(mode vet test race readme)
    add_test(NAME go_${mode}
             COMMAND /bin/sh ${PROJECT_SOURCE_DIR}/bindings/go/run-tests.sh ${mode})
    set_tests_properties(go_${mode} PROPERTIES
      ENVIRONMENT "${CONCERT_GO_ENV}"
      TIMEOUT 900
      # One Go build at a time: they share the cache and the machine's cores.
      RESOURCE_LOCK go_binding)
  endforeach()

  # The README quickstart from a module of its own in a temporary directory
  # (go.mod with require + replace to bindings/go), built against the
  # library installed into a fresh prefix with `cmake --install` (the
  # libconcert1 and libconcert-dev components), not against this build tree;
  # run with LD_LIBRARY_PATH and again with an rpath. No build-tree .pc here.
  add_test(NAME go_outside_module
           COMMAND /bin/sh ${PROJECT_SOURCE_DIR}/bindings/go/run-tests.sh outside)
  set_tests_properties(go_outside_module PROPERTIES
    ENVIRONMENT "GOCACHE=${CONCERT_GO_WORK}/cache;GOPATH=${CONCERT_GO_WORK}/gopath;GOFLAGS=-mod=mod;GOPROXY=off;GO111MODULE=on;CGO_ENABLED=1;CONCERT_GO_BUILD_DIR=${CMAKE_BINARY_DIR};CMAKE_COMMAND=${CMAKE_COMMAND}"
    TIMEOUT 900
    RESOURCE_LOCK go_binding)
endif()

# The store tests once more on PostgreSQL, on the shared test server that
# tests/postgres.cmake starts (fixture postgres_server; its conninfo file is
# build/pg/conninfo). SKIP (77) with CONCERT_SKIP_POSTGRES=1, via tests/pg/run.sh.
if(GO_EXECUTABLE AND CONCERT_SANITIZE STREQUAL "" AND CONCERT_WITH_POSTGRES)
  add_test(NAME go_postgres
           COMMAND ${PROJECT_SOURCE_DIR}/tests/pg/run.sh /bin/sh
                   ${PROJECT_SOURCE_DIR}/bindings/go/run-tests.sh postgres)
  set_tests_properties(go_postgres PROPERTIES
    ENVIRONMENT "${CONCERT_GO_ENV};CONCERT_TEST_PG_CONNINFO_FILE=${CMAKE_BINARY_DIR}/pg/conninfo"
    FIXTURES_REQUIRED postgres_server
    SKIP_RETURN_CODE 77
    TIMEOUT 900
    RESOURCE_LOCK go_binding)
endif()
