#!/usr/bin/env python3
"""Puts the whole-model benchmark's two halves side by side: peers.py's JSON (PyTorch eager,
TorchScript, torch.compile, AOTInductor) and build/fx_models_bench's (fx, fx_optimized and,
when present, eager_cpp). Both hold {"results": [{model, batch, column, ms_median, ...}]}.

Prints one markdown row per (model, batch) with the median ms of every column, fx_optimized's
speedup over eager and over the best peer (best_peer_ms / fx_optimized_ms, the peer named),
and fx_optimized's optimize time when the fx side reports one. --md also writes the table;
--png draws the speedup of every column over eager as grouped bars (needs matplotlib).

run.sh runs both halves several times, alternating (ROUNDS); given several files of each half,
every cell is the median of its per-round medians, and the per-round figures are listed under the
table so the spread between processes is visible.

Usage: python report.py PEERS.json FX.json [--md OUT.md] [--png OUT.png]
       python report.py --peers P1.json P2.json --fx F1.json F2.json [--md OUT.md] [--png OUT.png]
"""
import argparse
import json
import statistics
import sys

PEERS = ("eager", "torchscript", "compile", "aoti")
ORDER = PEERS + ("fx", "fx_optimized", "fx_opt_no_reuse", "eager_cpp")


def load(path):
    with open(path) as f:
        return json.load(f)


def index(results):
    """{(model, batch): {column: result}}, in first-seen order. A cell seen in several rounds
    gets the median of its rounds' medians, and "rounds" lists them."""
    table = {}
    for r in results:
        cols = table.setdefault((r["model"], int(r["batch"])), {})
        c = r["column"]
        if c not in cols:
            cols[c] = dict(r, rounds=[])
        if r.get("ms_median") is not None and not r.get("error"):
            cols[c]["rounds"].append(float(r["ms_median"]))
        elif r.get("error"):
            cols[c]["error"] = r["error"]
    for cols in table.values():
        for r in cols.values():
            if r["rounds"]:
                r["ms_median"] = statistics.median(r["rounds"])
                r.pop("error", None)
    return table


def spread_lines(table, columns):
    """One line per (model, batch) with every column's per-round medians, when there are rounds."""
    lines = []
    for (model, batch), cols in table.items():
        parts = []
        for c in columns:
            rounds = (cols.get(c) or {}).get("rounds") or []
            if len(rounds) > 1:
                parts.append(f"{c} " + "/".join(f"{x:.2f}" for x in rounds))
        if parts:
            lines.append(f"- {model} b{batch}: " + ", ".join(parts))
    return lines


def ms(r):
    if r is None or r.get("error") or r.get("ms_median") is None:
        return None
    return float(r["ms_median"])


def cell(r):
    if r is None:
        return "-"
    if r.get("error"):
        return "error"
    return f"{ms(r):.3f}" if ms(r) is not None else "-"


def build_table(table, columns, show_optimize):
    head = ["model", "batch"] + columns + ["fx_optimized speedup vs eager", "vs best peer"]
    if show_optimize:
        head.append("fx optimize s")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    errors = []
    for (model, batch), cols in table.items():
        row = [model, str(batch)] + [cell(cols.get(c)) for c in columns]
        fx_ms = ms(cols.get("fx_optimized"))
        eager_ms = ms(cols.get("eager"))
        row.append(f"{eager_ms / fx_ms:.2f}x" if fx_ms and eager_ms else "-")
        peers = [(ms(cols.get(c)), c) for c in PEERS if ms(cols.get(c)) is not None]
        if fx_ms and peers:
            best_ms, best = min(peers)
            row.append(f"{best_ms / fx_ms:.2f}x ({best})")
        else:
            row.append("-")
        if show_optimize:
            s = (cols.get("fx_optimized") or {}).get("compile_s")
            row.append(f"{s:.2f}" if s is not None else "-")
        lines.append("| " + " | ".join(row) + " |")
        for c in columns:
            if cols.get(c) and cols[c].get("error"):
                errors.append(f"- {model} b{batch} {c}: {cols[c]['error']}")
    return "\n".join(lines), errors


def env_line(name, data):
    env = data.get("env") or {}
    parts = [f"{k} {v}" for k, v in env.items() if k in ("torch", "threads", "cpu", "iters")]
    return f"{name}: " + (", ".join(parts) if parts else "no env recorded")


def plot(table, columns, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: no {path} (pip install matplotlib into the venv)")
        return False
    groups = [k for k, cols in table.items() if ms(cols.get("eager"))]
    bars = [c for c in columns if c != "eager"]
    if not groups or not bars:
        print(f"no eager times to compare with: no {path}")
        return False
    width = 0.8 / len(bars)
    top = 1.0
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups) * len(bars) * width + 3), 4.5))
    for i, c in enumerate(bars):
        xs, ys = [], []
        for g, key in enumerate(groups):
            t = ms(table[key].get(c))
            if t:
                xs.append(g - 0.4 + (i + 0.5) * width)
                ys.append(ms(table[key]["eager"]) / t)
        top = max([top] + ys)
        ax.bar(xs, ys, width, label=c)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{m}\nb{b}" for m, b in groups], fontsize=8)
    ax.set_ylabel("speedup over PyTorch eager (higher is better)")
    ax.set_title("CPU inference, median latency")
    ax.set_ylim(0, top * 1.3)  # headroom for the legend
    ax.legend(fontsize=8, ncol=min(len(bars), 4), loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("halves", nargs="*", help="PEERS.json FX.json (one round)")
    ap.add_argument("--peers", nargs="+", default=[], help="peers.py JSON, one per round")
    ap.add_argument("--fx", nargs="+", default=[], help="fx_models_bench JSON, one per round")
    ap.add_argument("--md", help="also write the table (and environment) to this file")
    ap.add_argument("--png", help="draw the speedup over eager to this file")
    args = ap.parse_args()

    peer_files, fx_files = list(args.peers), list(args.fx)
    if args.halves:
        if len(args.halves) != 2:
            ap.error("give PEERS.json FX.json, or --peers ... --fx ...")
        peer_files.append(args.halves[0])
        fx_files.append(args.halves[1])
    if not peer_files or not fx_files:
        ap.error("need at least one peers file and one fx file")
    peer_runs, fx_runs = [load(p) for p in peer_files], [load(p) for p in fx_files]
    peers, fx = peer_runs[0], fx_runs[0]
    results = []
    for run in peer_runs + fx_runs:
        results += run.get("results", [])
    table = index(results)
    present = {c for cols in table.values() for c in cols}
    columns = [c for c in ORDER if c in present or c in ORDER[:6]]
    columns += sorted(present - set(columns))
    show_optimize = any((cols.get("fx_optimized") or {}).get("compile_s") is not None
                        for cols in table.values())

    text, errors = build_table(table, columns, show_optimize)
    notes = ["Median ms per call; speedups are ratios of medians (higher favours fx_optimized).",
             env_line("peers", peers), env_line("fx", fx)]
    rounds = max(len(peer_runs), len(fx_runs))
    if rounds > 1:
        notes.append(f"{rounds} rounds, each process of peers.py then fx_models_bench in turn; "
                     "a cell is the median of its rounds' medians. Per round (ms):")
        notes += spread_lines(table, columns)
    out = text + "\n\n" + "\n".join(notes) + "\n"
    if errors:
        out += "\nErrors:\n" + "\n".join(errors) + "\n"
    print(out, end="")
    if args.md:
        with open(args.md, "w") as f:
            f.write(out)
        print(f"wrote {args.md}")
    if args.png and plot(table, columns, args.png):
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
