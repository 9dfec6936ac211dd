# Debian packages through CPack: `cpack -G DEB` in the build directory.
# Three packages from the install components set in the install() rules:
#   libconcert0    the shared library (runtime only)
#   libconcert-dev headers, static library, .so link, .pc, CMake config
#   concertd       the server and the concert CLI, plus a systemd unit
# Package names follow Debian's soname rule so a later ABI break can ship
# libconcert1 next to libconcert0.

if(CONCERT_BUILD_EXAMPLES)
  install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/examples/server/concertd.service
          DESTINATION lib/systemd/system COMPONENT concertd)
endif()

set(CPACK_PACKAGE_NAME "libconcert")
set(CPACK_PACKAGE_VENDOR "libconcert")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Fair, safe concert ticket sales: waiting queue, seat holds, point payments")
set(CPACK_PACKAGE_CONTACT "libconcert maintainers <maintainers@libconcert.invalid>")
set(CPACK_GENERATOR "DEB")
# Debian installs to /usr; a developer's CMAKE_INSTALL_PREFIX must not leak in.
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "libs")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# dpkg-shlibdeps fills Depends: from the ELF files (libsqlite3, libpq, ...).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Lets dpkg-shlibdeps resolve libconcert.so.0 in concertd to our own package.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# concertd and concert link libconcert.so.0, which lives in another component:
# without this dpkg-shlibdeps fails with "cannot find library libconcert.so.0".
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_BINARY_DIR}/lib)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

set(CPACK_COMPONENTS_ALL libconcert0 libconcert-dev)
if(CONCERT_BUILD_EXAMPLES)
  list(APPEND CPACK_COMPONENTS_ALL concertd)
endif()

set(CPACK_DEBIAN_LIBCONCERT0_PACKAGE_NAME "libconcert0")
set(CPACK_DEBIAN_LIBCONCERT0_PACKAGE_SECTION "libs")

set(CPACK_DEBIAN_LIBCONCERT-DEV_PACKAGE_NAME "libconcert-dev")
set(CPACK_DEBIAN_LIBCONCERT-DEV_PACKAGE_SECTION "libdevel")
# The .pc names sqlite3/libpq in Requires.private, so their -dev packages are
# needed for `pkg-config --static` and for the CMake config's dependencies.
set(CPACK_DEBIAN_LIBCONCERT-DEV_PACKAGE_DEPENDS
    "libconcert0 (= ${PROJECT_VERSION}), libsqlite3-dev, libpq-dev, pkg-config | pkgconf")

set(CPACK_DEBIAN_CONCERTD_PACKAGE_NAME "concertd")
set(CPACK_DEBIAN_CONCERTD_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_CONCERTD_PACKAGE_DEPENDS "libconcert0 (= ${PROJECT_VERSION})")

set(CPACK_COMPONENT_LIBCONCERT0_DESCRIPTION "libconcert shared library")
set(CPACK_COMPONENT_LIBCONCERT-DEV_DESCRIPTION
    "libconcert development files: headers, static library, pkg-config and CMake files")
set(CPACK_COMPONENT_LIBCONCERT-DEV_DEPENDS libconcert0)
set(CPACK_COMPONENT_CONCERTD_DESCRIPTION "concertd HTTP server and the concert CLI, with a systemd unit")
set(CPACK_COMPONENT_CONCERTD_DEPENDS libconcert0)

include(CPack)
