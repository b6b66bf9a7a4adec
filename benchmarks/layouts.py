"""Grid layouts side by side by DPQ_16: ours (t-SNE + exact LAP, then polished), FLAS, baselines.

Same feature vectors, same grid, same metric (``tsnegrid.quality.dpq``, equal to vc_flas's
``metrics.distance_preservation_quality(..., p=16)``), one process. FLAS (``vc_flas``, a
benchmark-only dependency) runs at its defaults and at high effort (radius_decay 0.995,
max_swap_positions 25), three seeds each, best of three; our polish runs once per FLAS seed,
interleaved with FLAS, and its median time is reported (its result depends only on its seed,
fixed at 0 like the pipeline's default). The t-SNE + LAP start and its time come from
``benchmarks/layout_cases.py`` (computed once per case and cached; ``--fresh`` recomputes it).

Usage::

    python benchmarks/layouts.py --cases digits,fashion-2500,colours-1024
    python benchmarks/layouts.py --cases all --effort 1

Writes ``benchmarks/results/layouts.md`` and ``layouts.png`` and prints the table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from layout_cases import CACHE, SPECS, Case, load_case
from matplotlib.figure import Figure
from numpy.typing import NDArray

from tsnegrid.layout import polish_layout
from tsnegrid.quality.baselines import random_layout, sorted_layout
from tsnegrid.quality.dpq import dpq_many
from tsnegrid.runtime.workers import single_thread_blas

RESULTS = Path(__file__).parent / "results"
FLAS_SEEDS = (1, 2, 3)
FLAS_HIGH = {"radius_decay": 0.995, "max_swap_positions": 25}
MARGIN = 0.005  # the goal: at least FLAS high effort (best of three) + this


@dataclass
class Row:
    """One case's measurements: DPQ_16 and seconds per method."""

    case: Case
    dpq: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def flas_layout(case: Case, seed: int, **settings: float) -> tuple[NDArray[np.intp], float]:
    """FLAS's layout of the case's features (holes frozen at the end) and its seconds."""
    import vc_flas

    n = case.features.shape[0]
    ids = np.full((case.rows, case.cols), -1, dtype=np.int32)
    ids.flat[:n] = np.arange(n)
    grid = vc_flas.Grid(
        case.features.astype(np.float32),
        ids,
        np.zeros((case.rows, case.cols), dtype=bool),
        np.arange(n, dtype=np.uint32),
    )
    began = time.perf_counter()
    sorting = vc_flas.flas(grid, wrap=False, seed=seed, **settings).sorting.ravel()
    seconds = time.perf_counter() - began
    cells = np.flatnonzero(sorting >= 0)
    node = np.empty(n, dtype=np.intp)
    node[sorting[cells]] = cells
    return node, seconds


def measure(case: Case, effort: float | None, threads: int) -> Row:
    """Every method on one case; layouts scored together (shared DPQ work)."""
    row = Row(case)
    layouts: dict[str, NDArray[np.intp]] = {"t-SNE + LAP": case.start}
    flas: dict[str, list[tuple[NDArray[np.intp], float]]] = {"FLAS default": [], "FLAS high": []}
    polish_seconds, polish_cpu, polished = [], [], None
    for seed in FLAS_SEEDS:  # interleaved: the machine's load hits every method alike
        flas["FLAS default"].append(flas_layout(case, seed))
        flas["FLAS high"].append(flas_layout(case, seed, **FLAS_HIGH))
        began, began_cpu = time.perf_counter(), time.process_time()
        polished = polish_layout(
            case.features, case.start, case.rows, case.cols, seed=0, threads=threads, effort=effort
        )
        polish_seconds.append(time.perf_counter() - began)
        polish_cpu.append(time.process_time() - began_cpu)
    assert polished is not None
    layouts["t-SNE + LAP + polish"] = polished.node_of_point
    began = time.perf_counter()
    layouts["polish effort 2"] = polish_layout(
        case.features, case.start, case.rows, case.cols, seed=0, threads=threads, effort=2.0
    ).node_of_point
    row.seconds["polish effort 2"] = time.perf_counter() - began
    n = case.features.shape[0]
    layouts["random"] = random_layout(n, case.rows, case.cols, seed=0)
    layouts["sorted"] = sorted_layout(case.features, case.rows, case.cols)
    for name, runs in flas.items():
        for i, (node, _) in enumerate(runs):
            layouts[f"{name} #{i}"] = node
    names = list(layouts)
    scores = dpq_many(
        case.features, [layouts[k] for k in names], case.rows, case.cols, threads=threads
    )
    by_name = {k: s.value for k, s in zip(names, scores, strict=True)}
    for name, runs in flas.items():
        row.dpq[name] = max(by_name[f"{name} #{i}"] for i in range(len(runs)))
        row.seconds[name] = statistics.median(s for _, s in runs)
    for name in ("t-SNE + LAP", "t-SNE + LAP + polish", "polish effort 2", "random", "sorted"):
        row.dpq[name] = by_name[name]
    row.seconds["polish"] = statistics.median(polish_seconds)
    row.seconds["polish CPU"] = statistics.median(polish_cpu)
    row.seconds["t-SNE + LAP"] = case.start_seconds
    row.seconds["t-SNE + LAP + polish"] = case.start_seconds + row.seconds["polish"]
    return row


def table(rows: list[Row]) -> str:
    """The markdown table of all cases."""
    head = (
        "| case | N | grid | random | sorted | FLAS default | FLAS high | t-SNE + LAP "
        "| + polish | polish s (CPU s) | + polish, effort 2 | goal | met |\n"
        + "| --- " * 3
        + "| ---: " * 10
        + "|"
    )
    lines = [head]
    for row in rows:
        c, d, s = row.case, row.dpq, row.seconds
        goal = d["FLAS high"] + MARGIN
        if c.name.startswith("colours"):
            goal = max(goal, 0.955)
        met = "yes" if d["t-SNE + LAP + polish"] >= goal else "**no**"
        name = c.name + ("" if c.tuned else " (fresh)")
        lines.append(
            f"| {name} | {c.features.shape[0]:,} | {c.rows} x {c.cols} | {d['random']:.3f} "
            f"| {d['sorted']:.3f} | {d['FLAS default']:.3f} ({s['FLAS default']:.2f} s) "
            f"| {d['FLAS high']:.3f} ({s['FLAS high']:.2f} s) "
            f"| {d['t-SNE + LAP']:.3f} ({s['t-SNE + LAP']:.1f} s) "
            f"| **{d['t-SNE + LAP + polish']:.3f}** | {s['polish']:.2f} ({s['polish CPU']:.2f}) "
            f"| {d['polish effort 2']:.3f} ({s['polish effort 2']:.2f} s) | {goal:.3f} | {met} |"
        )
    return "\n".join(lines)


def plot(rows: list[Row], path: Path) -> None:
    """DPQ_16 against seconds (log x): one colour per case, one marker per method."""
    fig = Figure(figsize=(8, 5.5))
    ax = fig.add_subplot()
    markers = {
        "FLAS default": "v",
        "FLAS high": "^",
        "t-SNE + LAP": "o",
        "t-SNE + LAP + polish": "*",
    }
    for i, row in enumerate(rows):
        colour = f"C{i % 10}"
        for method, marker in markers.items():
            ax.scatter(
                row.seconds[method],
                row.dpq[method],
                marker=marker,
                color=colour,
                s=90 if marker == "*" else 40,
                label=method if i == 0 else None,
            )
        ax.annotate(
            row.case.name,
            (row.seconds["t-SNE + LAP + polish"], row.dpq["t-SNE + LAP + polish"]),
            fontsize=7,
            xytext=(4, 2),
            textcoords="offset points",
            color=colour,
        )
    ax.set_xscale("log")
    ax.set_xlabel("seconds (t-SNE + LAP: embedding and assignment; FLAS: median of 3 seeds)")
    ax.set_ylabel("DPQ16 (FLAS: best of 3 seeds)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = "digits,fashion-2500,colours-1024,clipart-signs,clipart-recreation"
    parser.add_argument(
        "--cases", default=default, help=f"comma-separated of {', '.join(SPECS)}, or 'all'"
    )
    parser.add_argument(
        "--effort", type=float, default=None, help="polish effort (default: the automatic one)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="recompute the t-SNE + LAP starts")
    args = parser.parse_args()
    names = list(SPECS) if args.cases == "all" else args.cases.split(",")
    if args.fresh and CACHE.exists():
        shutil.rmtree(CACHE)
    rows = []
    with single_thread_blas():
        for name in names:
            rows.append(measure(load_case(name), args.effort, args.threads))
            print(f"{name}: done", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    text = table(rows) + f"\n\nLoad average (1, 5, 15 min) when the run ended: {load}."
    (RESULTS / "layouts.md").write_text(text + "\n")
    plot(rows, RESULTS / "layouts.png")
    print(text)


if __name__ == "__main__":
    main()
