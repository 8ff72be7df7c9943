#!/usr/bin/env bash
# Whole-model CPU benchmark: fx against PyTorch's own runtimes on the same models.
#   1. bench/models/peers.py times eager, TorchScript, torch.compile and AOTInductor and
#      exports each model's traced TorchScript file and input into build/bench-models/;
#   2. build/fx_models_bench loads those files and times fx (plain and optimized);
#   3. bench/models/report.py prints the comparison and writes build/bench-models/table.md
#      and build/bench-models/speedup.png.
# Steps 1 and 2 run ROUNDS times in turn (default 2), so that both sides see the machine in the
# same states; report.py takes each cell's median over the rounds and lists the rounds.
# Overrides: FX_VENV (Python environment), MODELS (comma list), BATCHES (comma list),
# ITERS (timed calls per column), WARMUP, THREADS, ROUNDS. Compiling for torch.compile and AOTInductor
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
ROUNDS="${ROUNDS:-2}"
OUT=build/bench-models
BIN=build/fx_models_bench

[[ -x "$PY" ]] || { echo "bench/models/run.sh: no Python environment at $VENV; run scripts/setup.sh first or set FX_VENV" >&2; exit 1; }
[[ -x "$BIN" ]] || { echo "bench/models/run.sh: $BIN is missing; build it first (cmake --build build --target fx_models_bench)" >&2; exit 1; }
"$PY" -c "import matplotlib" 2>/dev/null || "$PY" -m pip install -q matplotlib \
  || echo "bench/models/run.sh: could not install matplotlib; the table is still written, the plot is not" >&2
mkdir -p "$OUT"

peer_files=() fx_files=()
for ((r = 1; r <= ROUNDS; r++)); do
  echo "== round $r of $ROUNDS"
  "$PY" bench/models/peers.py --models "$MODELS" --batches "$BATCHES" --threads "$THREADS" \
    --iters "$ITERS" --warmup "$WARMUP" --json "$OUT/peers-$r.json" --export-dir "$OUT"
  "$BIN" --dir "$OUT" --models "$MODELS" --batches "$BATCHES" --threads "$THREADS" \
    --json "$OUT/fx-$r.json"
  peer_files+=("$OUT/peers-$r.json") fx_files+=("$OUT/fx-$r.json")
done
"$PY" bench/models/report.py --peers "${peer_files[@]}" --fx "${fx_files[@]}" \
  --md "$OUT/table.md" --png "$OUT/speedup.png"
