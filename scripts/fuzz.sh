#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cpp) with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer in build-fuzz/, and runs each for
# FX_FUZZ_SECONDS (default 30) from its seed corpus in fuzz/corpus/<name>/,
# with a fixed libFuzzer seed so that a CI run can be reproduced.
# scripts/test.sh calls it in CI. A crash leaves its input in build-fuzz/
# (crash-*): add it to the corpus and as a regression test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${FX_VENV:-$HOME/.cache/fx/venv-torch2.11}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/fx/ccache}"
seconds="${FX_FUZZ_SECONDS:-30}"
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is not installed (apt-get install clang); skipping the fuzz run" >&2
  exit 0
fi
probe="$(mktemp -d)"
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' > "$probe/p.cpp"
if ! clang++ -fsanitize=fuzzer,address "$probe/p.cpp" -o "$probe/p" 2>/dev/null; then
  rm -rf "$probe"
  echo "fuzz: clang's libFuzzer runtime is missing (apt-get install libclang-rt-14-dev); skipping" >&2
  exit 0
fi
rm -rf "$probe"
if [[ ! -f build-fuzz/build.ninja ]]; then
  echo "fuzz: configuring build-fuzz/ (clang, libFuzzer, ASan + UBSan)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DFX_FUZZ=ON -DFX_TESTS=OFF -DFX_BENCH=OFF -DFX_WERROR=OFF -DFX_LLD=OFF \
      -DFX_VENV="$venv" -DFX_CCACHE_DIR="$CCACHE_DIR" \
      -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
fi
targets=()
for src in fuzz/*_fuzz.cpp; do targets+=("fx_$(basename "$src" .cpp)"); done
cmake --build build-fuzz -j"${FX_JOBS:-$(nproc)}" --target "${targets[@]}"
export ASAN_OPTIONS="detect_leaks=0"
status=0
for t in "${targets[@]}"; do
  name="${t#fx_}"
  name="${name%_fuzz}"
  work="build-fuzz/corpus-$name"
  mkdir -p "$work"
  echo "fuzz: $t for ${seconds}s from fuzz/corpus/$name"
  if ! (cd build-fuzz && "./$t" -seed=1 -max_total_time="$seconds" -print_final_stats=0 \
          -rss_limit_mb=4096 "../$work" "../fuzz/corpus/$name" > "fuzz-$name.log" 2>&1); then
    echo "fuzz: $t found a crash; see build-fuzz/fuzz-$name.log and build-fuzz/crash-*" >&2
    tail -30 "build-fuzz/fuzz-$name.log" >&2
    status=1
  else
    grep -E "^Done [0-9]+ runs" "build-fuzz/fuzz-$name.log" | tail -1 || true
  fi
done
exit $status
