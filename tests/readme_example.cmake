# The C example in README.md is compiled and run as a test, so the README
# cannot drift from the API: the block between the "quickstart" markers is
# extracted at configure time.
file(READ ${PROJECT_SOURCE_DIR}/README.md CONCERT_README)
string(REGEX MATCH "<!-- quickstart:begin -->[^`]*```c\n(.*)```[^`]*<!-- quickstart:end -->"
       _match "${CONCERT_README}")
if(NOT CMAKE_MATCH_1)
  message(FATAL_ERROR "README.md has no quickstart C block between the markers")
endif()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/readme_quickstart.c "${CMAKE_MATCH_1}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/README.md)
add_executable(readme_quickstart ${CMAKE_CURRENT_BINARY_DIR}/readme_quickstart.c)
target_link_libraries(readme_quickstart PRIVATE concert)
add_test(NAME readme_quickstart COMMAND readme_quickstart)
set_tests_properties(readme_quickstart PROPERTIES PASS_REGULAR_EXPRESSION "paid reservation")

# Install the library into a scratch prefix and build a consumer against it,
# once with find_package(concert) and once with pkg-config.
add_test(NAME install_consumer
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/install/run.sh ${CMAKE_BINARY_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/install-check ${CMAKE_C_COMPILER})
