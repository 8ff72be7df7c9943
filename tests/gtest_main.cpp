// The main() of every fx test binary: GoogleTest's gtest_main plus two rules that apply only
// when CTest runs one suite per process (FX_CTEST=1, see cmake/FxTesting.cmake):
//   - every selected test called GTEST_SKIP() (e.g. no usable GPU): exit 77, which CTest reports
//     as "Skipped" rather than "Passed";
//   - the filter selected no test at all: fail, because the binary is older than its sources.
// Run by hand, the binary behaves exactly like one linked with gtest_main.

#include <cstdio>
#include <cstdlib>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const int result = RUN_ALL_TESTS();
  if (std::getenv("FX_CTEST") == nullptr || result != 0) return result;

  const testing::UnitTest& unit = *testing::UnitTest::GetInstance();
  if (unit.test_to_run_count() == 0) {
    std::fprintf(stderr, "the --gtest_filter selected no test; rebuild the test binary\n");
    return 1;
  }
  if (unit.skipped_test_count() == unit.test_to_run_count()) return 77;
  return 0;
}
