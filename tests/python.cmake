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
