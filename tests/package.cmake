# Debian packages (cmake/Packaging.cmake): build them with CPack, unpack into
# a scratch root and run the README quickstart against the unpacked files.
# Needs the installed targets built first (the default `all`), dpkg-deb and
# dpkg-shlibdeps; skipped where dpkg is absent.
find_program(CONCERT_DPKG_DEB dpkg-deb)
find_program(CONCERT_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(CONCERT_DPKG_DEB AND CONCERT_DPKG_SHLIBDEPS AND CONCERT_BUILD_EXAMPLES)
  add_test(NAME package_deb
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/package/run.sh ${CMAKE_BINARY_DIR}
                   ${CMAKE_CURRENT_BINARY_DIR}/package-check ${CMAKE_C_COMPILER}
                   ${CMAKE_CURRENT_BINARY_DIR}/readme_quickstart.c)
  set_tests_properties(package_deb PROPERTIES PASS_REGULAR_EXPRESSION "debs build, unpack")
endif()
