# Helpers that give every module the same flags, precompiled headers and test wiring.

set(AGENTD_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wno-missing-field-initializers)
# g++ 12 at -O2 reports out-of-bounds and overflow accesses inside std::string that cannot happen
# (GCC bugs 105329, 105651 and relatives, fixed in 13) and "maybe uninitialized" reads of
# engaged std::optional values (GCC bug 80635); they are noise, not findings. Debug and ASan
# builds keep every warning.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND AGENTD_WARNINGS "$<$<NOT:$<CONFIG:Debug>>:-Wno-array-bounds;-Wno-stringop-overflow;-Wno-stringop-overread;-Wno-restrict;-Wno-maybe-uninitialized>")
endif()
if(AGENTD_WERROR)
  list(APPEND AGENTD_WARNINGS -Werror)
endif()

if(AGENTD_FUZZ)
  # Coverage instrumentation for libFuzzer everywhere, sanitizers everywhere; the fuzz targets add
  # -fsanitize=fuzzer (the driver) themselves.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

if(AGENTD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# One precompiled header shared by every target with the same flags (heavy std + json headers).
set(AGENTD_PCH_HEADERS
  <algorithm> <chrono> <cstdint> <functional> <map> <memory> <mutex> <optional> <string>
  <string_view> <unordered_map> <utility> <variant> <vector> <nlohmann/json.hpp>)

if(AGENTD_BUILD_TESTS)
  # `cmake --build <dir> --target unit_tests` builds only the unit tests (the ASan run uses it).
  add_custom_target(unit_tests)
endif()

# agentd_library(NAME x SOURCES a.cc ... [HEADERS_ONLY] DEPS agentd_core ... [PUBLIC_LIBS ...])
function(agentd_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;LIBS" ${ARGN})
  set(target agentd_${ARG_NAME})
  add_library(${target} STATIC ${ARG_SOURCES})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_compile_options(${target} PRIVATE ${AGENTD_WARNINGS})
  target_link_libraries(${target} PUBLIC ${ARG_DEPS} ${ARG_LIBS})
  if(NOT target STREQUAL "agentd_core")
    target_precompile_headers(${target} REUSE_FROM agentd_core)
  endif()
endfunction()

# agentd_test(NAME x SOURCES a_test.cc ... DEPS ... [LABELS unit])
# Tests are GoogleTest binaries registered with CTest, one CTest entry per binary so the
# per-process start cost is paid once.
function(agentd_test)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT AGENTD_BUILD_TESTS)
    return()
  endif()
  set(target ${ARG_NAME})
  add_executable(${target} ${ARG_SOURCES})
  target_compile_options(${target} PRIVATE ${AGENTD_WARNINGS})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_link_libraries(${target} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_precompile_headers(${target} REUSE_FROM agentd_core)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_test(NAME ${target} COMMAND ${target} --gtest_brief=1)
  if("unit" IN_LIST ARG_LABELS)
    add_dependencies(unit_tests ${target})
  endif()
  set_tests_properties(${target} PROPERTIES LABELS "${ARG_LABELS}"
    ENVIRONMENT "AGENTD_BUILD_DIR=${PROJECT_BINARY_DIR};AGENTD_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
