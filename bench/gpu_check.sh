#!/usr/bin/env bash
# The GPU check: one command for a machine with an NVIDIA GPU, CUDA's nvcc and
# a Python whose torch is the CUDA-enabled wheel (torch 2.x). It
#   1. configures and builds fx against that torch's LibTorch (GoogleTest from
#      sources: FX_GTEST_SOURCE_DIR, ./.gtest, or /usr/src/googletest),
#   2. runs the GPU tests (fused kernels, CUDA graphs, Thrust oracle, ...),
#   3. runs fx_gpu_check (fused vs eager vs Thrust vs copy bandwidth, CUDA
#      graph latency, NVRTC compile times) and bench/fusion_torch_compile.py
#      on the same chains on the GPU,
#   4. prints the summary table last; OUT_DIR (default: the build folder)
#      receives gpu_check.log and gpu_check.json.
# Usage: bench/gpu_check.sh [--tests-only]   (env: FX_PYTHON, FX_GPU_BUILD, OUT_DIR, FX_GPU_JOBS)
set -uo pipefail
tests_only=0
[ "${1:-}" = "--tests-only" ] && tests_only=1
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${FX_PYTHON:-python3}
BUILD=${FX_GPU_BUILD:-$ROOT/build-gpu}
OUT_DIR=${OUT_DIR:-$BUILD}
mkdir -p "$BUILD" "$OUT_DIR"
LOG=$OUT_DIR/gpu_check.log
exec > >(tee "$LOG") 2>&1
t_start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - t_start )) s)"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
VENV=$("$PY" -c 'import sys; print(sys.prefix)') || { echo "no python at $PY"; exit 1; }
"$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPU", torch.cuda.is_available())'
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
CUDA_ROOT=$(dirname "$(dirname "$NVCC")")
"$NVCC" --version | tail -n 2
GTEST=${FX_GTEST_SOURCE_DIR:-}
for d in "$GTEST" "$ROOT/.gtest" /usr/src/googletest; do
  if [ -n "$d" ] && [ -f "$d/CMakeLists.txt" ]; then GTEST=$d; break; fi
done
echo "python env $VENV, CUDA toolkit $CUDA_ROOT, GoogleTest sources ${GTEST:-none}"

step "configure"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFX_VENV="$VENV" \
  -DFX_CUDA=ON -DFX_CUDA_ROOT="$CUDA_ROOT" -DFX_BENCH=OFF -DFX_GTEST_SOURCE_DIR="$GTEST" \
  >"$BUILD/configure.log" 2>&1 || { tail -n 40 "$BUILD/configure.log"; exit 1; }
grep -E "^-- fx:" "$BUILD/configure.log"

step "build"
ninja -C "$BUILD" -j "${FX_GPU_JOBS:-$(nproc)}" fx_jit_tests fx_runtime_tests fx_tools_tests fxjit fx_gpu_check \
  >"$BUILD/build.log" 2>&1 || { grep -E "error|FAILED" "$BUILD/build.log" | head -n 40; exit 1; }
echo "built"

step "GPU tests"
rc=0
"$BUILD/fx_jit_tests" --gtest_filter='FuseCuda*:FuseCudaRun*:CudaGraph*:Cuda*:GpuBuild*' \
  --gtest_brief=1 || rc=1
"$BUILD/fx_runtime_tests" --gtest_filter='GraphModule.RunsOnCuda' --gtest_brief=1 || rc=1
"$BUILD/fx_tools_tests" --gtest_filter='Fxjit.DeviceCuda*' --gtest_brief=1 || rc=1

if [ $tests_only -eq 1 ]; then
  echo "GPU tests: $([ $rc -eq 0 ] && echo passed || echo FAILED); total $(( $(date +%s) - t_start )) s"
  exit $rc
fi

step "fx_gpu_check"
"$BUILD/fx_gpu_check" --json "$OUT_DIR/gpu_check.json" | tee "$BUILD/gpu_check.txt" || rc=1

step "torch.compile on the same chains"
PYTHONUNBUFFERED=1 timeout 240 "$PY" "$ROOT/bench/fusion_torch_compile.py" --device cuda \
  --ops 1 2 4 8 16 --elems 1048576 16777216 67108864 --min-time 0.1 \
  | tee "$BUILD/torch_compile.txt" || true

step "summary"
sed -n '/^| ops/,$p' "$BUILD/gpu_check.txt"
echo
echo "torch.compile (Inductor, Triton) on the same chains:"
sed -n '/^ops /,$p' "$BUILD/torch_compile.txt"
echo "GPU tests: $([ $rc -eq 0 ] && echo passed || echo FAILED); total $(( $(date +%s) - t_start )) s"
exit $rc
