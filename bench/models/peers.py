#!/usr/bin/env python3
"""PyTorch's own CPU runtimes on the zoo's models (bench/models/zoo.py), the peers that
build/fx_models_bench is compared with; report.py puts the two JSON files side by side.

Columns, all called under torch.inference_mode():
  eager        the nn.Module (bert_layer takes PyTorch's fused encoder fast path here)
  torchscript  optimize_for_inference(freeze(script or trace)); CNNs are scripted when that
               works, the rest traced (as exported); `note` says which
  compile      torch.compile, default mode, Inductor freezing on, static shapes;
               compile_s is the first call (shorter when Inductor's on-disk cache is warm)
  aoti         torch.export + AOTInductor (freezing on), loaded with aoti_load_package;
               compile_s is export + compile + load
Every column's output is checked against eager before timing (max_abs_diff; a warning past
the tolerance). A column that raises is recorded with its error and the run goes on. The
columns of one (model, batch) are timed in alternating rounds, so drift on a noisy machine
spreads over all of them; ms_median and ms_p10 are over all samples.

It also writes each model's traced TorchScript file and input into --export-dir
(zoo.export_torchscript), which is what the C++ side loads.

Usage: python peers.py --models mlp,mobilenet_v2 --batches 1 --threads 2 --iters 30
       --warmup 5 --json out.json --export-dir build/bench-models [--columns eager,compile]
"""
import argparse
import json
import os
import statistics
import sys
import time
import traceback
import warnings

# Inductor compiles with a pool of worker processes by default; on a 2-core machine that
# only adds start-up time and noise.
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
# Loading an AOTInductor package in torch 2.11 warns about its own pytree spec once per load.
warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo  # noqa: E402

COLUMNS = ("eager", "torchscript", "compile", "aoti")
TOLERANCE = {"rtol": 1e-3, "atol": 1e-3}
ROUNDS = 3


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


class Prepared:
    """A column ready to time: fn(x) -> output, plus what it cost to build."""

    def __init__(self, fn, compile_s=None, note=None):
        self.fn, self.compile_s, self.note = fn, compile_s, note


def prepare_eager(name, m, x, work):
    return Prepared(m)


def prepare_torchscript(name, m, x, work):
    start = time.perf_counter()
    note = "trace"
    if name in zoo.CNNS:
        try:
            sm = torch.jit.script(m)
            note = "script"
        except Exception as e:  # noqa: BLE001 - any scripting failure falls back to tracing
            print(f"  torchscript: script failed ({type(e).__name__}), tracing instead")
            sm = zoo.trace(m, x)
    else:
        sm = zoo.trace(m, x)
    sm = torch.jit.optimize_for_inference(torch.jit.freeze(sm.eval()))
    return Prepared(sm, time.perf_counter() - start, note)


def prepare_compile(name, m, x, work):
    import torch._dynamo
    import torch._inductor.config

    torch._dynamo.reset()
    torch._inductor.config.freezing = True
    # dynamic=False: otherwise the second batch size of a model may be recompiled with a
    # symbolic batch dimension ("automatic dynamic shapes"), which is a different program.
    fn = torch.compile(m, dynamic=False)
    start = time.perf_counter()
    with torch.inference_mode():
        fn(x)
    return Prepared(fn, time.perf_counter() - start, "freezing, dynamic=False")


def prepare_aoti(name, m, x, work):
    import torch._inductor

    start = time.perf_counter()
    ep = torch.export.export(m, (x,))
    os.makedirs(work, exist_ok=True)
    package = torch._inductor.aoti_compile_and_package(
        ep,
        package_path=os.path.join(work, f"{name}_b{x.shape[0]}.pt2"),
        inductor_configs={"freezing": True},
    )
    loaded = torch._inductor.aoti_load_package(package)
    return Prepared(loaded, time.perf_counter() - start, "freezing")


PREPARE = {
    "eager": prepare_eager,
    "torchscript": prepare_torchscript,
    "compile": prepare_compile,
    "aoti": prepare_aoti,
}


def first_tensor(out):
    while isinstance(out, (list, tuple)):
        out = out[0]
    return out


def error_message(e):
    text = f"{type(e).__name__}: {e}".strip()
    return text.splitlines()[0][:500] if text else type(e).__name__


def bench_case(name, batch, columns, args):
    """Results (one dict per column) for one (model, batch)."""
    m, x = zoo.build(name, batch)
    with torch.inference_mode():
        ref = m(x)
    rows, ready = {}, {}
    for col in columns:
        row = {"model": name, "batch": batch, "column": col, "ms_median": None,
               "ms_p10": None, "compile_s": None, "max_abs_diff": None, "error": None}
        rows[col] = row
        print(f"{name} b{batch} {col}: preparing", flush=True)
        try:
            p = PREPARE[col](name, m, x, os.path.join(args.export_dir, "aoti"))
            with torch.inference_mode():
                out = first_tensor(p.fn(x))
            row["compile_s"] = p.compile_s
            if p.note:
                row["note"] = p.note
            row["max_abs_diff"] = (out.float() - ref.float()).abs().max().item()
            if out.shape != ref.shape or not torch.allclose(out, ref, **TOLERANCE):
                print(f"WARNING: {name} b{batch} {col}: output differs from eager "
                      f"(max abs diff {row['max_abs_diff']:.3g}, shape {tuple(out.shape)})")
            ready[col] = p.fn
        except Exception as e:  # noqa: BLE001 - a failing column is a result, not a crash
            row["error"] = error_message(e)
            print(f"  {col} failed: {row['error']}")
            if args.verbose:
                traceback.print_exc()

    samples = {col: [] for col in ready}
    rounds = max(1, min(ROUNDS, args.iters))
    per_round = [args.iters // rounds + (1 if r < args.iters % rounds else 0) for r in range(rounds)]
    with torch.inference_mode():
        for col, fn in ready.items():
            try:
                for _ in range(args.warmup):
                    fn(x)
            except Exception as e:  # noqa: BLE001
                rows[col]["error"] = error_message(e)
        for n in per_round:
            for col, fn in ready.items():
                if rows[col]["error"]:
                    continue
                try:
                    for _ in range(n):
                        start = time.perf_counter()
                        fn(x)
                        samples[col].append((time.perf_counter() - start) * 1e3)
                except Exception as e:  # noqa: BLE001
                    rows[col]["error"] = error_message(e)
    for col, ms in samples.items():
        if ms and not rows[col]["error"]:
            ms.sort()
            rows[col]["ms_median"] = statistics.median(ms)
            rows[col]["ms_p10"] = ms[int(0.1 * (len(ms) - 1))]
    return [rows[col] for col in columns]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(zoo.MODELS))
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", required=True)
    ap.add_argument("--export-dir", required=True)
    ap.add_argument("--columns", default=",".join(COLUMNS))
    ap.add_argument("--verbose", action="store_true", help="print tracebacks of failing columns")
    args = ap.parse_args()

    models = [s for s in args.models.split(",") if s]
    batches = [int(s) for s in args.batches.split(",") if s]
    columns = [s for s in args.columns.split(",") if s]
    for col in columns:
        if col not in PREPARE:
            ap.error(f"unknown column '{col}'; known: {', '.join(COLUMNS)}")
    for name in models:
        if name not in zoo.MODELS:
            ap.error(f"unknown model '{name}'; known: {', '.join(zoo.MODELS)}")
    torch.set_num_threads(args.threads)
    os.makedirs(args.export_dir, exist_ok=True)

    results = []
    for name in models:
        for batch in batches:
            path = os.path.join(args.export_dir, f"{name}_b{batch}.pt")
            zoo.export_torchscript(name, batch, path)
            print(f"{name} b{batch}: exported {path}", flush=True)
            results.extend(bench_case(name, batch, columns, args))

    env = {"torch": torch.__version__, "threads": args.threads, "cpu": cpu_model(),
           "iters": args.iters, "warmup": args.warmup}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"env": env, "results": results}, f, indent=1)

    print(f"\n{'model':<16} {'batch':>5} {'column':<12} {'ms_median':>10} {'ms_p10':>10} "
          f"{'compile_s':>9} {'max_diff':>9}")
    for r in results:
        if r["error"]:
            print(f"{r['model']:<16} {r['batch']:>5} {r['column']:<12} error: {r['error']}")
            continue
        cs = f"{r['compile_s']:.1f}" if r["compile_s"] is not None else "-"
        print(f"{r['model']:<16} {r['batch']:>5} {r['column']:<12} {r['ms_median']:>10.3f} "
              f"{r['ms_p10']:>10.3f} {cs:>9} {r['max_abs_diff']:>9.2g}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
