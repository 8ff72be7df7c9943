#!/usr/bin/env bash
# Builds the runtime and jit test binaries with ThreadSanitizer in build-tsan/
# (same ccache as the main build) and runs the tests that use several threads:
# the Stress suite, concurrent GraphModule::forward, threads sharing one fused
# module and one kernel compile. scripts/test.sh calls it in CI (or with
# FX_SANITIZE=1) next to scripts/sanitize.sh; FX_SKIP_TSAN=1 skips it. Requires
# scripts/setup.sh to have run (it has, in test.sh).
#
# LibTorch and its OpenMP runtime are not instrumented, so TSan cannot see the
# synchronisation inside them and reports races that are not there:
# scripts/tsan.supp names the LibTorch frames concerned (oneDNN's primitive
# cache, TensorIterator's loop on the OpenMP workers) and why. A race in fx
# code between fx threads still stops the run, and a canary test
# (TsanCanary.*, a Graph mutated while another thread reads it) checks that
# first: this script fails if TSan stays silent about it.
# Warnings are the main build's job (-Werror there), so not here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${FX_VENV:-$HOME/.cache/fx/venv-torch2.11}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/fx/ccache}"
jobs="${FX_JOBS:-$(nproc)}"
if [[ ! -f build-tsan/build.ninja ]]; then
  echo "tsan: configuring build-tsan/ (ThreadSanitizer)"
  # CPU only: the tests here are CPU tests, and the binaries then need no libcuda.
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFX_BENCH=OFF -DFX_CUDA=OFF \
        -DFX_VENV="$venv" -DFX_CCACHE_DIR="$CCACHE_DIR" -DFX_WERROR=OFF \
        -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
        -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
fi
# test binary -> the tests in it that run several threads.
declare -A filters=(
  [fx_runtime_tests]='Stress.*:GraphModule.ConcurrentForwardIsSafe:*Threads*'
  [fx_jit_tests]='FuseCpu.EightThreadsShareOneFusedModule:*Threads*'
)
targets=()
for t in fx_runtime_tests fx_jit_tests; do
  if grep -q "^build $t: " build-tsan/build.ninja; then targets+=("$t"); fi
done
cmake --build build-tsan -j"$jobs" --target "${targets[@]}"
# halt_on_error: the first report fails the run (exit code 66).
export TSAN_OPTIONS="suppressions=$PWD/scripts/tsan.supp halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
# One ATen thread would hide the interplay of fx threads with its pool.
unset OMP_NUM_THREADS
status=0
if [[ " ${targets[*]} " == *" fx_runtime_tests "* ]]; then
  echo "tsan: checking that a race in fx code is reported (TsanCanary)"
  log="build-tsan/canary.log"
  # Up to three tries: a suppression that hides the race hides it every
  # time, while TSan itself has been seen (once, in CI) to stay silent on a
  # single run of a racy test.
  reported=0
  for try in 1 2 3; do
    # With halt_on_error the report also ends the run with a failure status.
    FX_TSAN_CANARY=1 build-tsan/fx_runtime_tests --gtest_brief=1 \
      --gtest_filter='TsanCanary.*' > "$log" 2>&1 || true
    if grep -q "WARNING: ThreadSanitizer: data race" "$log"; then reported=1; break; fi
    echo "tsan: canary try $try: no report" >&2
  done
  if [[ $reported == 0 ]]; then
    echo "tsan: the canary race was not reported; are the suppressions too broad?" >&2
    tail -30 "$log" >&2
    status=1
  fi
fi
for t in "${targets[@]}"; do
  echo "tsan: running $t (${filters[$t]}) under ThreadSanitizer"
  start=$SECONDS
  if ! "build-tsan/$t" --gtest_brief=1 --gtest_filter="${filters[$t]}"; then status=1; fi
  echo "tsan: $t took $((SECONDS - start)) s"
done
exit $status
