# Run by ctest (not cmake) through a test binary's TEST_INCLUDE_FILES script; see
# Note [One CTest test per test suite] in FxTesting.cmake. Given FX_TEST_BINARY, FX_TEST_SOURCES,
# FX_TEST_PREFIX, FX_TEST_TIMEOUT and FX_TEST_WORKDIR, it registers one test per GoogleTest suite.

if(NOT EXISTS "${FX_TEST_BINARY}")
  add_test("${FX_TEST_PREFIX}.NOT_BUILT" "${FX_TEST_BINARY}")  # fails: "Could not find executable"
  return()
endif()

set(_fx_suites "")
foreach(_fx_source IN LISTS FX_TEST_SOURCES)
  if(NOT EXISTS "${_fx_source}")
    continue()
  endif()
  file(STRINGS "${_fx_source}" _fx_lines
       REGEX "^[ \t]*(TEST|TEST_F|TEST_P|TYPED_TEST|TYPED_TEST_P)[ \t]*\\([ \t]*[A-Za-z_][A-Za-z0-9_]*")
  foreach(_fx_line IN LISTS _fx_lines)
    if(_fx_line MATCHES "^[ \t]*[A-Z_]+[ \t]*\\([ \t]*([A-Za-z_][A-Za-z0-9_]*)")
      set(_fx_suite "${CMAKE_MATCH_1}")
      if(NOT _fx_suite MATCHES "^DISABLED_")
        list(APPEND _fx_suites "${_fx_suite}")
      endif()
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES _fx_suites)

foreach(_fx_suite IN LISTS _fx_suites)
  # Plain and fixture tests (Suite.Name), typed tests (Suite/0.Name), value-parameterized
  # tests (Instance/Suite.Name/0) and typed-parameterized ones (Instance/Suite/0.Name).
  set(_fx_filter "${_fx_suite}.*:${_fx_suite}/*.*:*/${_fx_suite}.*:*/${_fx_suite}/*.*")
  set(_fx_name "${FX_TEST_PREFIX}.${_fx_suite}")
  add_test("${_fx_name}" "${FX_TEST_BINARY}" "--gtest_filter=${_fx_filter}" "--gtest_color=no")
  set_tests_properties("${_fx_name}" PROPERTIES
      TIMEOUT "${FX_TEST_TIMEOUT}"
      WORKING_DIRECTORY "${FX_TEST_WORKDIR}"
      SKIP_RETURN_CODE 77
      ENVIRONMENT "FX_CTEST=1")
endforeach()
