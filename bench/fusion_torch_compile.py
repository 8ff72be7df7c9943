#!/usr/bin/env python3
"""Anchor for bench/fusion_bench.cpp: eager torch vs torch.compile (Inductor's
C++/OpenMP backend on CPU) on the same elementwise chains.

The chain is fusion_bench's: a = x*y; b = a+1;
c = sigmoid(b); d = c*x; e = tanh(d); f = e-y; g = relu(f); out = g*0.5; the
N-op chain is its first N steps (16 = twice). float32, sizes 1K, 64K, 1M, 16M,
chain lengths 1, 2, 4, 8, 16, 2 intra-op threads (FX_BENCH_THREADS to change).
Each case is timed as the median of calls over at least --min-time seconds
(default 0.2, as fusion_bench's MinTime) after warm-up, with a fresh output
per call (as eager and fusion_bench do). Eager times here include Python
dispatch (~2-4 us per op), visible only at 1K elements.

The summary table has fusion_bench's columns: `fused_ms` is torch.compile's
time and `ratio` is eager_ms / fused_ms. If torch or torch.compile is not
usable, it says why and exits 0.

With --reductions it times fusion_bench's reduction cases instead (softmax of
x * 0.125 + mask, add + layer_norm, LLaMA's RMSNorm, the SE block's
mean -> sigmoid -> mul; shapes as in BM_ReduceFused) and prints one row per case;
those are timed in inference mode, as BM_ReduceEager/BM_ReduceFused are.

Usage: $HOME/.cache/fx/venv-torch2.11/bin/python bench/fusion_torch_compile.py
       [--ops 8] [--elems 16777216] [--min-time 0.2] [--device cuda] [--reductions]
"""
import argparse
import os
import statistics
import sys
import time
import traceback

# Inductor compiles with a pool of worker processes by default; on a 2-core
# machine that only adds start-up time and noise.
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")


def chain(n, x, y):
    import torch

    v = x
    for i in range(n):
        k = i % 8
        if k == 0:
            v = v * y
        elif k == 1:
            v = v + 1
        elif k == 2:
            v = torch.sigmoid(v)
        elif k == 3:
            v = v * x
        elif k == 4:
            v = torch.tanh(v)
        elif k == 5:
            v = v - y
        elif k == 6:
            v = torch.relu(v)
        else:
            v = v * 0.5
    return v


def cpu_model(default):
    """The CPU's model name from /proc/cpuinfo (bench/report.py uses it too)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default


def make_chain(n):
    def f(x, y):
        return chain(n, x, y)

    f.__name__ = "chain%d" % n
    return f


def time_ms(fn, min_time, sync=None):
    fn()  # warm-up (and compile)
    if sync:
        sync()
    # On a GPU, calls are timed in batches of 20 between syncs (launches queue up,
    # as in fx_gpu_check's CUDA-event batches), so a sync's cost is not counted 20 times.
    batch = 20 if sync else 1
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1e3 / batch)
    return statistics.median(times)


# fusion_bench's kReductionCases: (name, input shapes, function).
def reduction_cases():
    import torch
    import torch.nn.functional as F

    def softmax(x, mask):
        return torch.softmax(x * 0.125 + mask, -1)

    def add_layer_norm(x, r, w, b):
        return F.layer_norm(x + r, (x.shape[-1],), w, b)

    def rms_norm(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    def se(x):
        return x * torch.sigmoid(x.mean((2, 3), keepdim=True))

    def group_norm_silu(x, w, b):
        return F.silu(F.group_norm(x, 32, w, b))

    return [
        ("softmax(x*s+mask) [8192,128]", [(64 * 128, 128), (128,)], softmax),
        ("softmax(x*s+mask) [1024,4096]", [(1024, 4096), (4096,)], softmax),
        ("add+layer_norm [4096,768]", [(4096, 768), (4096, 768), (768,), (768,)], add_layer_norm),
        ("add+layer_norm [1024,4096]", [(1024, 4096), (1024, 4096), (4096,), (4096,)],
         add_layer_norm),
        ("RMSNorm [2048,4096]", [(2048, 4096), (4096,)], rms_norm),
        ("SE mean->sigmoid->mul [32,256,28,28]", [(32, 256, 28, 28)], se),
        ("group_norm(32)->silu [8,256,32,32]", [(8, 256, 32, 32), (256,), (256,)],
         group_norm_silu),
    ]


def run_reductions(args, dev, sync):
    import torch

    print("\n%-40s %12s %12s %8s" % ("reduction case", "eager_ms", "compile_ms", "ratio"))
    for name, shapes, fn in reduction_cases():
        torch.manual_seed(0)
        xs = [torch.randn(s, device=dev) for s in shapes]
        try:
            torch._dynamo.reset()
            # Compiled, checked and timed in inference mode (a graph compiled
            # outside it is recompiled, or guarded differently, inside it).
            with torch.inference_mode():
                comp = torch.compile(fn, dynamic=False)
                got, want = comp(*xs), fn(*xs)
                if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
                    print("%-40s compiled result differs from eager; skipped" % name)
                    continue
                eager_ms = time_ms(lambda: fn(*xs), args.min_time, sync)
                comp_ms = time_ms(lambda: comp(*xs), args.min_time, sync)
        except Exception as ex:  # noqa: BLE001
            print("%-40s torch.compile failed: %s: %s" % (name, type(ex).__name__,
                                                          str(ex).strip()[:200]))
            continue
        print("%-40s %12.3f %12.3f %8.2f" % (name, eager_ms, comp_ms, eager_ms / comp_ms))
        sys.stdout.flush()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, nargs="*", default=[1, 2, 4, 8, 16])
    ap.add_argument("--elems", type=int, nargs="*", default=[1 << 10, 1 << 16, 1 << 20, 1 << 24])
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--device", default="cpu", help="cpu (Inductor's C++ backend) or cuda (Triton)")
    ap.add_argument("--reductions", action="store_true",
                    help="time fusion_bench's reduction cases instead of the chains")
    args = ap.parse_args()

    try:
        import torch
    except Exception as e:  # noqa: BLE001
        print("fusion_torch_compile: torch is not importable (%s); nothing measured" % e)
        return 0
    threads = int(os.environ.get("FX_BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    cpu = cpu_model("?")
    dev = args.device
    sync = None
    if dev.startswith("cuda"):
        if not torch.cuda.is_available():
            print("fusion_torch_compile: no CUDA device is usable; nothing measured")
            return 0
        sync = torch.cuda.synchronize
        cpu = torch.cuda.get_device_name(0) + " (GPU)"
    print("fusion_torch_compile: torch %s, %d intra-op threads, float32, %s %s"
          % (torch.__version__, torch.get_num_threads(), "device" if sync else "CPU", cpu))

    # Can torch.compile build a CPU kernel at all here (a C++ compiler, headers)?
    try:
        probe = torch.compile(make_chain(2), dynamic=False)
        a, b = torch.randn(64, device=dev), torch.randn(64, device=dev)
        t0 = time.perf_counter()
        got = probe(a, b)
        print("torch.compile probe (2-op chain, 64 elements): first call %.0f ms"
              % ((time.perf_counter() - t0) * 1e3))
        if not torch.allclose(got, chain(2, a, b), rtol=1e-5, atol=1e-6):
            print("fusion_torch_compile: torch.compile gives wrong results; not timing it")
            return 0
    except Exception as e:  # noqa: BLE001
        print("fusion_torch_compile: torch.compile is not usable here: %s: %s"
              % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else ""))
        traceback.print_exc(limit=3)
        return 0

    if args.reductions:
        return run_reductions(args, dev, sync)

    rows = []
    print("\n%-28s %12s %12s %10s" % ("case", "eager_ms", "compile_ms", "compile_s"))
    for n in args.ops:
        for e in args.elems:
            torch.manual_seed(0)
            x, y = torch.randn(e, device=dev), torch.randn(e, device=dev)
            try:
                torch._dynamo.reset()
                fn = torch.compile(make_chain(n), dynamic=False)
                t0 = time.perf_counter()
                got = fn(x, y)
                first_s = time.perf_counter() - t0
                want = chain(n, x, y)
                # Per element, relative to the inputs' magnitude (e - y cancels).
                scale = 1 + x.abs() + y.abs()
                if not bool((((got - want).abs()) <= 1e-5 * scale).all()):
                    print("%-28s compiled result differs from eager; skipped" % ("%d/%d" % (n, e)))
                    continue
                eager_ms = time_ms(lambda: chain(n, x, y), args.min_time, sync)
                comp_ms = time_ms(lambda: fn(x, y), args.min_time, sync)
            except Exception as ex:  # noqa: BLE001
                print("%-28s torch.compile failed: %s: %s"
                      % ("%d/%d" % (n, e), type(ex).__name__, str(ex).strip()[:200]))
                continue
            print("%-28s %12.3f %12.3f %10.2f" % ("chain/%d/%d" % (n, e), eager_ms, comp_ms,
                                                   first_s))
            sys.stdout.flush()
            rows.append((n, e, eager_ms, comp_ms))

    print("\n%-6s %-10s %12s %12s %8s %10s" % ("ops", "elems", "eager_ms", "fused_ms", "ratio",
                                              "fused_GB/s"))
    for n, e, eager_ms, comp_ms in rows:
        gbs = e * 3.0 * 4 / (comp_ms * 1e-3) / 1e9
        print("%-6d %-10d %12.3f %12.3f %8.2f %10.2f" % (n, e, eager_ms, comp_ms,
                                                      eager_ms / comp_ms, gbs))
    print("(fused_ms = torch.compile, Inductor's %s backend; ratio = eager / torch.compile)"
          % ("Triton" if sync else "C++"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
