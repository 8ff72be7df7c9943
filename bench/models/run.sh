#!/usr/bin/env bash
# Whole-model CPU benchmark: fx against PyTorch's own runtimes on the same models.
#   1. bench/models/peers.py times eager, TorchScript, torch.compile and AOTInductor and
#      exports each model's traced TorchScript file and input into build/bench-models/;
#   2. build/fx_models_bench loads those files and times fx (plain and optimized);
#   3. bench/models/report.py prints the comparison and writes build/bench-models/table.md
#      and build/bench-models/speedup.png.
# Overrides: FX_VENV (Python environment), MODELS (comma list), BATCHES (comma list),
# ITERS (timed calls per column), WARMUP, THREADS. Compiling for torch.compile and AOTInductor
# takes tens of seconds per model and batch.
#   bench/models/run.sh
#   MODELS=mlp,bert_layer BATCHES=1 ITERS=20 bench/models/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
VENV="${FX_VENV:-$HOME/.cache/fx/venv-torch2.11}"
PY="$VENV/bin/python"
MODELS="${MODELS:-resnet18,mobilenet_v2,efficientnet_b0,bert_layer,mlp}"
BATCHES="${BATCHES:-1,16}"
ITERS="${ITERS:-30}"
WARMUP="${WARMUP:-5}"
THREADS="${THREADS:-2}"
OUT=build/bench-models
BIN=build/fx_models_bench

[[ -x "$PY" ]] || { echo "bench/models/run.sh: no Python environment at $VENV; run scripts/setup.sh first or set FX_VENV" >&2; exit 1; }
[[ -x "$BIN" ]] || { echo "bench/models/run.sh: $BIN is missing; build it first (cmake --build build --target fx_models_bench)" >&2; exit 1; }
"$PY" -c "import matplotlib" 2>/dev/null || "$PY" -m pip install -q matplotlib \
  || echo "bench/models/run.sh: could not install matplotlib; the table is still written, the plot is not" >&2
mkdir -p "$OUT"

"$PY" bench/models/peers.py --models "$MODELS" --batches "$BATCHES" --threads "$THREADS" \
  --iters "$ITERS" --warmup "$WARMUP" --json "$OUT/peers.json" --export-dir "$OUT"
"$BIN" --dir "$OUT" --models "$MODELS" --batches "$BATCHES" --threads "$THREADS" --json "$OUT/fx.json"
"$PY" bench/models/report.py "$OUT/peers.json" "$OUT/fx.json" --md "$OUT/table.md" --png "$OUT/speedup.png"
