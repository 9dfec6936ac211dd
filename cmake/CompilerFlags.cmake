# Warnings, hardening and sanitizers for every target in the tree.
# -Wconversion (with -Wsign-conversion, which C includes in it): every
# narrowing or sign change is written out, so none is an accident.
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes
                    -Wmissing-prototypes -Wformat=2 -Wvla -Wconversion)
if(CONCERT_WERROR)
  add_compile_options(-Werror)
endif()

# Hardening: fortify needs optimisation, so only where it is on.
add_compile_options(-fstack-protector-strong)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug" AND CONCERT_SANITIZE STREQUAL "")
  add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
add_link_options(-Wl,-z,relro,-z,now)
include(CheckPIESupported)
check_pie_supported()

if(NOT CONCERT_SANITIZE STREQUAL "")
  add_compile_options(-fsanitize=${CONCERT_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${CONCERT_SANITIZE})
endif()
