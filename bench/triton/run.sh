#!/usr/bin/env bash
# The Triton benchmark: perf_analyzer against fx's backend and against PyTriton serving the same
# MLP block with eager PyTorch (bench/triton/models.py), on the same Triton server 2.51.0 (from the
# nvidia-pytriton wheel) and the same machine, at concurrency 1, 4 and 16 over gRPC, one request
# of batch 1 at a time per client; dynamic batching on both sides.
# Prints a Markdown table (throughput, p50, p99) and leaves perf_analyzer's CSVs in $OUT.
#
# perf_analyzer is a C++ binary that PyPI ships inside the tritonclient 2.41.0 wheel
# (data/bin/perf_analyzer); the first run downloads that wheel once into ~/.cache/fx/perf_analyzer
# and runs the binary against the libb64 and libcudart that nvidia-pytriton bundles.
#
# Usage: bench/triton/run.sh [OUT_DIR]   (after scripts/setup.sh; needs build/triton_backends)
# Environment: FX_VENV, FX_BUILD (build), PA_SECONDS (measurement window per point, 5),
#   PA_STABILITY (perf_analyzer -s: how far apart, in %, three windows may be and still count as
#   stable; 25, raise it on a busy machine)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root="$PWD"
venv="${FX_VENV:-$HOME/.cache/fx/venv-torch2.11}"
py="$venv/bin/python"
build="${FX_BUILD:-$root/build}"
out="${1:-$(mktemp -d /tmp/fx_triton_bench_XXXXXX)}"
mkdir -p "$out"
window_ms=$(( ${PA_SECONDS:-5} * 1000 ))
[[ -f "$build/triton_backends/fx/libtriton_fx.so" ]] ||
  { echo "no $build/triton_backends/fx/libtriton_fx.so: build the backend first" >&2; exit 1; }

site="$("$py" -c 'import pytriton, os; print(os.path.dirname(os.path.dirname(pytriton.__file__)))')"
server="$site/pytriton/tritonserver/bin/tritonserver"

# ---- perf_analyzer --------------------------------------------------------------------------------
pa_dir="$HOME/.cache/fx/perf_analyzer"
pa="$pa_dir/perf_analyzer"
if [[ ! -x "$pa" ]]; then
  mkdir -p "$pa_dir/libs"
  "$py" -m pip download --quiet --no-deps -d "$pa_dir" "tritonclient==2.41.0"
  (cd "$pa_dir" && unzip -o -q -j tritonclient-2.41.0-*.whl 'tritonclient-2.41.0.data/data/bin/perf_analyzer')
  chmod +x "$pa"
fi
libs="$site/nvidia_pytriton.libs"
ln -sf "$(ls "$libs"/libb64-*.so.0d)" "$pa_dir/libs/libb64.so.0d"
ln -sf "$(ls "$libs"/libcudart-*.so.12*)" "$pa_dir/libs/libcudart.so.12"

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

wait_ready() {  # port
  for _ in $(seq 600); do
    if curl -sf "127.0.0.1:$1/v2/models/mlp/ready" >/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || { echo "the server died; see $out" >&2; return 1; }
    sleep 0.5
  done
  echo "the server was not ready in 5 minutes" >&2
  return 1
}

measure() {  # name grpc_port
  for c in 1 4 16; do
    LD_LIBRARY_PATH="$pa_dir/libs" "$pa" -m mlp -u "127.0.0.1:$2" -i grpc -b 1 \
      --concurrency-range "$c" --measurement-interval "$window_ms" -s "${PA_STABILITY:-25}" -r 8 \
      -f "$out/$1_c$c.csv" > "$out/$1_c$c.log" 2>&1 ||
      { echo "perf_analyzer failed, see $out/$1_c$c.log" >&2; tail -5 "$out/$1_c$c.log" >&2; return 1; }
  done
}

# ---- fx's backend -------------------------------------------------------------------------------------
"$py" bench/triton/make_repo.py "$out/repo"
http=$(free_port) grpc=$(free_port)
setsid "$server" --model-repository="$out/repo" --backend-directory="$build/triton_backends" \
  --http-address=127.0.0.1 --http-port="$http" --grpc-address=127.0.0.1 --grpc-port="$grpc" \
  --allow-metrics=false > "$out/fx_server.log" 2>&1 &
server_pid=$!
wait_ready "$http"
measure fx "$grpc"
stop_server

# ---- PyTriton, eager PyTorch ------------------------------------------------------------------------
http=$(free_port) grpc=$(free_port)
pylib="$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"
(cd bench/triton && LD_LIBRARY_PATH="$pylib" exec setsid "$py" pytriton_server.py "$http" "$grpc") \
  > "$out/pytriton_server.log" 2>&1 &
server_pid=$!
wait_ready "$http"
measure pytriton "$grpc"
stop_server

# ---- table -------------------------------------------------------------------------------------------
"$py" - "$out" <<'PYEOF'
import csv, sys
out = sys.argv[1]
def row(name, c):
    r = next(csv.DictReader(open(f"{out}/{name}_c{c}.csv")))
    return float(r["Inferences/Second"]), int(r["p50 latency"]) / 1000, int(r["p99 latency"]) / 1000
print("| concurrency | fx: inferences/s | fx: p50 ms | fx: p99 ms | PyTriton: inferences/s | PyTriton: p50 ms | PyTriton: p99 ms | fx / PyTriton throughput |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in (1, 4, 16):
    f, p = row("fx", c), row("pytriton", c)
    print(f"| {c} | {f[0]:.0f} | {f[1]:.2f} | {f[2]:.2f} | {p[0]:.0f} | {p[1]:.2f} | {p[2]:.2f} | {f[0] / p[0]:.2f}x |")
PYEOF
echo "CSVs and logs in $out"
