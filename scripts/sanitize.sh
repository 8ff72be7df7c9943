#!/usr/bin/env bash
# Builds the ir, runtime, capture, serialize, passes and jit test binaries with AddressSanitizer and
# UndefinedBehaviorSanitizer in build-asan/ (same ccache as the main build)
# and runs them. scripts/test.sh calls it in CI (or with FX_SANITIZE=1) before
# the main CTest run. Requires scripts/setup.sh to have run (it has, in test.sh).
# Warnings are the main build's job (-Werror there): with sanitizers GCC 12
# reports false maybe-uninitialized warnings inside <regex>, so not here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${FX_VENV:-$HOME/.cache/fx/venv-torch2.11}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/fx/ccache}"
jobs="${FX_JOBS:-$(nproc)}"
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
if [[ ! -f build-asan/build.ninja ]]; then
  echo "sanitize: configuring build-asan/ (ASan + UBSan)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFX_BENCH=OFF \
        -DFX_VENV="$venv" -DFX_CCACHE_DIR="$CCACHE_DIR" -DFX_WERROR=OFF \
        -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
fi
targets=()
for t in fx_ir_tests fx_runtime_tests fx_capture_tests fx_serialize_tests fx_passes_tests fx_jit_tests; do
  if grep -q "^build $t: " build-asan/build.ninja; then targets+=("$t"); fi
done
cmake --build build-asan -j"$jobs" --target "${targets[@]}"
# LibTorch's own allocations outlive main on purpose; leak checking is for a
# dedicated run. Everything else stops the run.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1"
status=0
for t in "${targets[@]}"; do
  echo "sanitize: running $t under ASan + UBSan"
  # The install test builds a separate project and is covered by the main run.
  if ! "build-asan/$t" --gtest_brief=1 --gtest_filter='-Install*'; then status=1; fi
done
exit $status
