# Python binding (bindings/python): pytest against the shared library this
# build just made, found through CONCERT_LIBRARY (the binding's second choice
# after an explicit path). Debian's /usr/bin/python3 has python3-pytest.
# No cache or bytecode is written into the source tree.
if(EXISTS /usr/bin/python3)
  add_test(NAME python_binding
           COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
                   ${CMAKE_SOURCE_DIR}/bindings/python/tests)
  set_tests_properties(python_binding PROPERTIES
    ENVIRONMENT "CONCERT_LIBRARY=$<TARGET_FILE:concert>;PYTHONDONTWRITEBYTECODE=1"
    TIMEOUT 600)
endif()

# `pip install ./bindings/python` into a fresh venv, offline with Debian's
# wheels, against libconcert installed to a scratch prefix (cmake --install
# of the libconcert1 and libconcert-dev components: needs `all` built); the
# README quickstart then runs outside the repository, the library found via
# pkg-config, CONCERT_LIBRARY and the loader's search. Skipped (77) without
# python3-venv or the python3-*-whl packages.
if(EXISTS /usr/bin/python3)
  add_test(NAME python_pip_install
           COMMAND ${CMAKE_SOURCE_DIR}/bindings/python/tests/pip_install.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(python_pip_install PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 300
    PASS_REGULAR_EXPRESSION "quickstart ran via pkg-config, CONCERT_LIBRARY and the loader")
endif()
