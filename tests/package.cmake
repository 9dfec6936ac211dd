# Debian packages (cmake/Packaging.cmake): build them with CPack from a small
# packaging build of their own (prefix /usr, no tests or bench: see
# tests/package/run.sh for why not this build), unpack into a scratch root and
# run the README quickstart against the unpacked files. Needs dpkg-deb and
# dpkg-shlibdeps; skipped where dpkg is absent. The first run builds the
# library, concertd and the CLI once (about a minute on 2 cores); later runs
# rebuild only what changed.
find_program(CONCERT_DPKG_DEB dpkg-deb)
find_program(CONCERT_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(CONCERT_DPKG_DEB AND CONCERT_DPKG_SHLIBDEPS AND CONCERT_BUILD_EXAMPLES)
  add_test(NAME package_deb
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/package/run.sh ${PROJECT_SOURCE_DIR}
                   ${CMAKE_CURRENT_BINARY_DIR}/package-check ${CMAKE_C_COMPILER}
                   ${CMAKE_CURRENT_BINARY_DIR}/readme_quickstart.c)
  set_tests_properties(package_deb PROPERTIES
    PASS_REGULAR_EXPRESSION "debs build, unpack and run the quickstart"
    PROCESSORS 2 TIMEOUT 900)
endif()
