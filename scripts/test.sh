#!/usr/bin/env bash
# Sets up and builds fx (scripts/setup.sh), then runs every test with CTest and exits with its
# status. With CI set, warnings in our code are errors (FX_WERROR=ON). Extra arguments go to
# ctest, e.g. scripts/test.sh -R ir.Graph
# In CI (or with FX_SANITIZE=1) it first runs scripts/sanitize.sh (ASan + UBSan), scripts/tsan.sh
# (ThreadSanitizer on the multi-threaded tests; FX_SKIP_TSAN=1 skips it) and scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -n "${CI:-}" ]]; then
  export FX_WERROR=ON
fi
scripts/setup.sh
# Sanitizers first, so that CTest's summary line ends the output.
if [[ -n "${CI:-}" || -n "${FX_SANITIZE:-}" ]]; then
  scripts/sanitize.sh
  # The multi-threaded tests under ThreadSanitizer; FX_SKIP_TSAN=1 skips them.
  if [[ -z "${FX_SKIP_TSAN:-}" ]]; then scripts/tsan.sh; fi
  FX_FUZZ_SECONDS="${FX_FUZZ_SECONDS:-30}" scripts/fuzz.sh
fi
exec ctest --test-dir build --output-on-failure -j"${FX_JOBS:-$(nproc)}" "$@"
