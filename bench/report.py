"""Benchmark report for fx: runs the Google Benchmark binaries in build/ with JSON output,
writes one table per binary into bench/RESULTS.md between the report markers (text outside
them is kept), and draws plots into bench/plots/:

- fusion_speedup.png: fused over eager, by tensor size, one line per chain length;
- fusion_bandwidth.png: achieved GB/s of fused chains against the measured copy bandwidth.

The plots read fusion_bench's case names (BM_Eager/<ops>/<elements>, BM_Fused/..., BM_Copy)
and its bytes_per_second counters; they are skipped when those are absent.
Run through bench/report, which picks the project's Python environment.
"""

import datetime
import json
import os
import platform
import re
import subprocess
import sys

from fusion_torch_compile import cpu_model  # bench/, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
OUT = os.path.join(ROOT, "bench", "out")
PLOTS = os.path.join(ROOT, "bench", "plots")
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")
BEGIN, END = "<!-- report:begin -->", "<!-- report:end -->"


def machine():
    cpu = cpu_model(platform.processor() or "unknown CPU")
    info = {"cpu": f"{cpu}, {os.cpu_count()} cores", "date": datetime.date.today().isoformat()}
    try:
        import torch

        info["libtorch"] = f"{torch.__version__} (CUDA {torch.version.cuda})"
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except Exception as e:  # the report still works without torch importable
        info["libtorch"] = f"unknown ({e})"
    try:
        nvcc = subprocess.run(["/usr/local/cuda/bin/nvcc", "--version"], capture_output=True, text=True)
        m = re.search(r"release ([\d.]+)", nvcc.stdout)
        info["cuda toolkit"] = m.group(1) if m else "unknown"
    except OSError:
        info["cuda toolkit"] = "not installed"
    return info


def run(binary, full):
    os.makedirs(OUT, exist_ok=True)
    out = os.path.join(OUT, os.path.basename(binary) + ".json")
    args = [binary, f"--benchmark_out={out}", "--benchmark_out_format=json"]
    if full:
        args += ["--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true"]
    print(f"running {os.path.basename(binary)} ...", flush=True)
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def fmt(v):
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table(data):
    rows = [b for b in data["benchmarks"] if b.get("run_type") != "aggregate" or b.get("aggregate_name") == "median"]
    counters = []
    for b in rows:
        for k in b:
            if k not in counters and k not in {
                "name", "family_index", "per_family_instance_index", "run_name", "run_type",
                "repetitions", "repetition_index", "threads", "iterations", "real_time", "cpu_time",
                "time_unit", "aggregate_name", "aggregate_unit", "error_occurred", "error_message",
            }:
                counters.append(k)
    lines = ["| case | real time | cpu time | " + " | ".join(counters) + " |",
             "|---|---:|---:|" + "---:|" * len(counters)]
    for b in rows:
        unit = b.get("time_unit", "ns")
        if b.get("error_occurred"):
            lines.append(f"| {b['name']} | error: {b.get('error_message', '')} | | " + " | " * len(counters))
            continue
        lines.append(
            f"| {b['name']} | {fmt(b['real_time'])} {unit} | {fmt(b['cpu_time'])} {unit} | "
            + " | ".join(fmt(b.get(k, "")) for k in counters) + " |")
    return "\n".join(lines)


def plots(results):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots")
        return []
    made = []
    # fusion_bench names its cases BM_Eager/<ops>/<elements>/... and BM_Fused/<ops>/<elements>/...
    eager, fused, copy_gbs = {}, {}, []
    for name, data in results.items():
        if "fusion" not in name:
            continue
        for b in data["benchmarks"]:
            parts = b["name"].split("/")
            if parts[0] in ("BM_Eager", "BM_Fused") and len(parts) >= 3:
                key = (int(parts[1]), int(parts[2]))
                (eager if parts[0] == "BM_Eager" else fused)[key] = b
            elif parts[0] == "BM_Copy" and "bytes_per_second" in b:
                copy_gbs.append(b["bytes_per_second"] / 1e9)
    os.makedirs(PLOTS, exist_ok=True)
    keys = sorted(set(eager) & set(fused))
    if keys:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for ops in sorted({k[0] for k in keys}):
            pts = [(k[1], eager[k]["real_time"] / fused[k]["real_time"]) for k in keys if k[0] == ops]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{ops} ops")
        ax.set_xscale("log")
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_xlabel("elements (float32)")
        ax.set_ylabel("fused speed-up over eager")
        ax.set_title("fx fused vs eager LibTorch, CPU")
        ax.legend()
        path = os.path.join(PLOTS, "fusion_speedup.png")
        fig.savefig(path, dpi=110, bbox_inches="tight")
        made.append(path)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for ops in sorted({k[0] for k in keys}):
            pts = [(k[1], fused[k].get("bytes_per_second", 0) / 1e9) for k in keys if k[0] == ops]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"fused, {ops} ops")
        if copy_gbs:
            ax.axhline(max(copy_gbs), color="black", linestyle="--", label="copy bandwidth")
        ax.set_xscale("log")
        ax.set_xlabel("elements (float32)")
        ax.set_ylabel("GB/s")
        ax.set_title("achieved bandwidth of fused chains, CPU")
        ax.legend()
        path = os.path.join(PLOTS, "fusion_bandwidth.png")
        fig.savefig(path, dpi=110, bbox_inches="tight")
        made.append(path)
    return made


def main(argv):
    full = "--full" in argv
    wanted = [a for a in argv if not a.startswith("--")]
    binaries = sorted(os.path.join(BUILD, f) for f in os.listdir(BUILD)
                      if f.startswith("fx_") and f.endswith("_bench"))
    if wanted:
        binaries = [b for b in binaries if os.path.basename(b)[3:-6] in wanted]
    if not binaries:
        sys.exit("bench/report: no benchmark binaries in build/ (run scripts/setup.sh)")
    results = {os.path.basename(b): run(b, full) for b in binaries}
    info = machine()
    parts = [BEGIN, "## Generated by bench/report", "",
             "| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in info.items()] + [""]
    for name, data in results.items():
        parts += [f"### {name}", "", table(data), ""]
    for path in plots(results):
        rel = os.path.relpath(path, os.path.dirname(RESULTS))
        parts += [f"![{os.path.basename(path)}]({rel})", ""]
    parts.append(END)
    generated = "\n".join(parts)
    text = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + generated + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + generated + "\n"
    with open(RESULTS, "w") as f:
        f.write(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
