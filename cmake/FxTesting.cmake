# GoogleTest and CTest for fx: finds GoogleTest (Debian's libgtest-dev, or its sources under
# /usr/src/googletest) and turns each tests/<folder>/ into one binary whose test suites are CTest
# tests.
#
# Note [One CTest test per test suite]
# A test binary linked with LibTorch needs about 0.25 s just to start (0.4 s with the CUDA
# libraries), so one process per test case (gtest_discover_tests) would spend most of the run
# loading libraries. CTest runs one process per suite instead: `<binary> --gtest_filter=Suite.*`.
# The suites are read from the sources each time ctest starts (a TEST_INCLUDE_FILES script), so
# the list never goes stale; a suite is a TEST/TEST_F/TEST_P/TYPED_TEST(_P) whose macro starts a
# line. tests/gtest_main.cpp reports a suite whose tests all called GTEST_SKIP() as skipped
# (exit code 77), and fails a suite that selects no test at all (a stale binary).
# FX_CTEST_PER_TEST=ON registers every test case instead (gtest_discover_tests).
include_guard(GLOBAL)

set(FX_TEST_TIMEOUT 300 CACHE STRING "CTest timeout in seconds for one test suite")
option(FX_CTEST_PER_TEST "One CTest test per test case (gtest_discover_tests) instead of per suite" OFF)

# Debian's libgtest-dev ships the built libraries and GTestConfig.cmake; the googletest package
# ships only the sources, which we then build as part of our tree.
set(FX_GTEST_SOURCE_DIR "/usr/src/googletest" CACHE PATH "GoogleTest sources, used when no installed GTest is found")
find_package(GTest CONFIG QUIET)
if(NOT TARGET GTest::gtest)
  find_package(GTest MODULE QUIET)
endif()
if(NOT TARGET GTest::gtest)
  if(EXISTS "${FX_GTEST_SOURCE_DIR}/CMakeLists.txt")
    message(STATUS "fx: building GoogleTest from ${FX_GTEST_SOURCE_DIR}")
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    add_subdirectory("${FX_GTEST_SOURCE_DIR}" "${PROJECT_BINARY_DIR}/_deps/googletest" EXCLUDE_FROM_ALL)
    if(NOT TARGET GTest::gtest)  # googletest >= 1.11 defines it itself
      add_library(GTest::gtest ALIAS gtest)
    endif()
  else()
    message(FATAL_ERROR "GoogleTest not found: run scripts/setup.sh (or apt-get install libgtest-dev), "
                        "or configure with -DFX_TESTS=OFF")
  endif()
endif()
include(GoogleTest)

set(_FX_SUITES_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/FxCTestSuites.cmake")

# fx_add_test_suite(<name> DIR <tests folder> LINK <targets>...)
# One test binary from <folder>/*_test.cpp, registered with CTest as <folder name>.<Suite>.
# Does nothing while the folder has no tests.
function(fx_add_test_suite name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "DIR" "LINK")
  file(GLOB sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${arg_DIR}/*_test.cpp")
  if(NOT sources)
    return()
  endif()
  fx_add_executable(${name} SOURCES ${sources} "${PROJECT_SOURCE_DIR}/tests/gtest_main.cpp"
                    LINK ${arg_LINK} GTest::gtest)
  get_filename_component(prefix "${arg_DIR}" NAME)

  if(FX_CTEST_PER_TEST)
    gtest_discover_tests(${name} TEST_PREFIX "${prefix}." DISCOVERY_MODE PRE_TEST
                         WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
                         PROPERTIES TIMEOUT ${FX_TEST_TIMEOUT})
    return()
  endif()
  set(script "${CMAKE_CURRENT_BINARY_DIR}/${name}_suites.cmake")
  file(GENERATE OUTPUT "${script}" CONTENT
"set(FX_TEST_BINARY [==[$<TARGET_FILE:${name}>]==])
set(FX_TEST_SOURCES [==[${sources}]==])
set(FX_TEST_PREFIX [==[${prefix}]==])
set(FX_TEST_TIMEOUT [==[${FX_TEST_TIMEOUT}]==])
set(FX_TEST_WORKDIR [==[${PROJECT_SOURCE_DIR}]==])
include([==[${_FX_SUITES_SCRIPT}]==])
")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${script}")
endfunction()
