"""Benchmark: our exact grid assignment against scipy and lapjv, side by side, one process.

    python benchmarks/assignment.py --sizes 2500,10000 --kinds tsne,blobs --repeats 3
    python benchmarks/assignment.py --sizes 70000,250000 --kinds tsne --solvers auto --threads 1,2
    python benchmarks/assignment.py --sizes 1000000 --kinds tsne --solvers auto --repeats 1
    python benchmarks/assignment.py --points million.npy --solvers auto --threads 1,2 --repeats 1

Every solver runs on the same instances; the table gives the median wall time of the repeats
(and the process CPU time, all threads), the ratios to scipy and to lapjv on that instance (and,
with ``--threads``, our solver's speed-up over one thread, the runs of each thread count
interleaved, and whether every thread count gave the same nodes and bound), the cost, whether
the cost is certified optimal (within ``OPTIMALITY_RTOL`` of the lower bound our solver proves
for the instance) and the peak memory of one call in a fresh process. Dense solvers are
skipped, with the reason, above ``--dense-max-n`` points (their n x M matrix and cubic time).
Results go to ``benchmarks/results/assignment.json``.

Instances: ``tsne`` is the t-SNE of a seeded Fashion-MNIST sample (pixels / 255, PCA to 50, sklearn
t-SNE with PCA init, min-max normalised), cached as ``.npy`` in ``benchmarks/results/``; above
``TSNE_MAX`` points that embedding is upsampled (each point copied with Gaussian noise of the
point spacing), which keeps its clusters and gaps. ``uniform`` is uniform in the unit square.
``blobs`` are ten tight Gaussian blobs (standard deviation 1% of the square). ``--mask disc``
keeps only the cells of the disc inscribed in the grid, on the smallest square grid whose disc
holds the points (and ``--empty`` more). ``--points FILE`` solves one instance of your own instead
(kind ``file``): an ``(n, 2)`` array saved with :func:`numpy.save`, min-max normalised, such as
the embedding that ``benchmarks/million.py --save-points FILE`` writes.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import multiprocessing
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsnegrid.assign.assignment import (
    OPTIMALITY_RTOL,
    assignment_cost,
    dense_lapjv,
    dense_scipy,
    lapjv_available,
)
from tsnegrid.assign.grid import cell_width, grid_nodes, near_square_grid
from tsnegrid.assign.solver import Solution, solve_lattice

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
RESULTS = Path(__file__).resolve().parent / "results"
TSNE_MAX = 10_000
KINDS = ("tsne", "uniform", "blobs")
SOLVERS = ("auto", "scipy", "lapjv")


# ---------------------------------------------------------------- instances


def read_idx_images(path: Path) -> NDArray[np.uint8]:
    """(n, rows, cols) uint8 images of a gzipped IDX file."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def unit_square(points: NDArray[np.floating]) -> NDArray[np.float64]:
    """Min-max normalise each axis to [0, 1]."""
    p = np.asarray(points, dtype=np.float64)
    span = p.max(axis=0) - p.min(axis=0)
    return np.clip((p - p.min(axis=0)) / np.where(span > 0, span, 1.0), 0.0, 1.0)


def tsne_points(n: int, seed: int) -> NDArray[np.float64]:
    """(n, 2) t-SNE of ``min(n, TSNE_MAX)`` Fashion-MNIST images (cached), upsampled above."""
    base = min(n, TSNE_MAX)
    cache = RESULTS / f"tsne_fashion_{base}_seed{seed}.npy"
    if cache.exists():
        points = np.load(cache)
    else:
        points = _compute_tsne(base, seed)
        RESULTS.mkdir(parents=True, exist_ok=True)
        np.save(cache, points)
    if n <= base:
        return points
    rng = np.random.default_rng(seed)
    src = points[rng.integers(0, len(points), n)]
    return unit_square(src + rng.normal(scale=1.0 / np.sqrt(base), size=src.shape))


def _compute_tsne(n: int, seed: int) -> NDArray[np.float64]:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    images = read_idx_images(FASHION)
    pick = np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))
    pixels = images[pick].reshape(n, -1).astype(np.float32) / 255.0
    reduced = PCA(n_components=50, random_state=seed).fit_transform(pixels)
    embedded = TSNE(n_components=2, init="pca", random_state=seed).fit_transform(reduced)
    return unit_square(embedded)


def make_points(
    kind: str, n: int, seed: int = 0, source: Path | None = None
) -> NDArray[np.float64]:
    """The instance of one kind (see ``KINDS``; ``file``: the points saved in ``source``)."""
    rng = np.random.default_rng(seed)
    if kind == "file":
        if source is None:
            raise ValueError("kind 'file' needs --points FILE")
        return points_file(source)
    if kind == "tsne":
        return tsne_points(n, seed)
    if kind == "uniform":
        return rng.random((n, 2))
    if kind == "blobs":
        centres = rng.uniform(0.1, 0.9, size=(10, 2))
        label = rng.integers(0, 10, n)
        return unit_square(centres[label] + rng.normal(scale=0.01, size=(n, 2)))
    raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")


def points_file(path: Path) -> NDArray[np.float64]:
    """(n, 2) points saved in ``path`` (``.npy``), min-max normalised to the unit square."""
    points = np.load(path)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise SystemExit(f"{path}: shape {points.shape}; save an (n, 2) array of points")
    if not np.all(np.isfinite(points)):
        raise SystemExit(f"{path}: NaN or inf among the points; save finite coordinates")
    return unit_square(points)


# ---------------------------------------------------------------- measuring


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def timed(call: Callable[[], object]) -> tuple[float, float, object]:
    """Run ``call``; return (wall seconds, process CPU seconds, its result)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - start, time.process_time() - cpu, result


def disc_mask(rows: int, cols: int) -> NDArray[np.bool_]:
    """(rows * cols,) the cells within 0.5 of the centre of the unit square."""
    return np.hypot(*(grid_nodes(rows, cols) - 0.5).T) <= 0.5


def grid_for(n: int, args: argparse.Namespace) -> tuple[tuple[int, int], NDArray | None]:
    """The grid of an instance of ``n`` points and its mask (None without ``--mask``)."""
    cells = round(n * (1 + args.empty))
    if args.mask == "none":
        return near_square_grid(cells), None
    side = math.isqrt(cells)
    while int(disc_mask(side, side).sum()) < cells:
        side += 1
    return (side, side), disc_mask(side, side)


def peak_mib(name: str, kind: str, n: int, args: argparse.Namespace, threads: int) -> float:
    """Peak extra resident memory of one solve, measured in a fresh (spawned) process.

    The kernel's high-water mark of resident memory is reset before the call
    (``/proc/self/clear_refs``) and read after it, minus the resident size at the start. It
    counts numba's and scipy's allocations, which ``tracemalloc`` does not see, and a fresh
    process has no freed memory from earlier runs for the allocator to hand back unnoticed.
    """
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return float(pool.apply(_peak_child, (name, kind, n, args, threads)))


def _peak_child(name: str, kind: str, n: int, args: argparse.Namespace, threads: int) -> float:
    points = make_points(kind, n, args.seed, args.points)
    (rows, cols), mask = grid_for(n, args)
    call = solver_call(name, points, rows, cols, mask, threads)
    if name == "auto":
        solve_lattice(points[:1], 1, 1)  # load the numba cache before measuring
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    before = _rss_kib("VmRSS")
    call()
    return max(0, _rss_kib("VmHWM") - before) / 1024.0


def solver_call(
    name: str, points: NDArray, rows: int, cols: int, mask: NDArray | None, threads: int = 1
) -> Callable[[], object]:
    if name == "auto":
        return lambda: solve_lattice(points, rows, cols, mask, threads)
    if name == "scipy":
        return lambda: dense_scipy(points, rows, cols, mask)
    return lambda: dense_lapjv(points, rows, cols, mask)


def skip_reason(name: str, n: int, args: argparse.Namespace) -> str | None:
    if name == "lapjv" and not lapjv_available():
        return "lapjv not installed"
    if name != "auto" and n > args.dense_max_n:
        return f"N > --dense-max-n {args.dense_max_n} (dense N x M matrix, cubic time)"
    return None


def runs_of(
    points: NDArray, grid: tuple[int, int], mask: NDArray | None, args: argparse.Namespace
) -> dict[tuple[str, int], list]:
    """``(solver, threads) -> [(wall, cpu, result), ...]``; the repeats of every solver and
    thread count interleaved, so that a busy spell of the machine hits them alike."""
    configs = [
        (name, t)
        for name in sorted(args.solvers, key=lambda s: s != "auto")
        for t in (args.threads if name == "auto" else [1])
    ]
    configs = [c for c in configs if not skip_reason(c[0], len(points), args)]
    runs: dict[tuple[str, int], list] = {c: [] for c in configs}
    for _ in range(args.repeats):
        for name, t in configs:
            runs[name, t].append(timed(solver_call(name, points, *grid, mask, t)))
    return runs


def run_instance(kind: str, n: int, args: argparse.Namespace) -> list[dict]:
    (rows, cols), mask = grid_for(n, args)
    points = make_points(kind, n, args.seed, args.points)
    runs = runs_of(points, (rows, cols), mask, args)
    mine = [r[0][2] for (name, _), r in runs.items() if name == "auto"]
    proof = mine[0] if mine else solve_lattice(points, rows, cols, mask)
    same = all(
        np.array_equal(s.node_of_point, proof.node_of_point) and s.lower_bound == proof.lower_bound
        for s in mine
    )
    base = {"kind": kind, "n": n, "rows": rows, "cols": cols, "mask": args.mask}
    out = [
        {**base, "solver": name, "skipped": skip_reason(name, n, args)}
        for name in args.solvers
        if skip_reason(name, n, args)
    ]
    for (name, t), rr in runs.items():
        result = rr[0][2]
        node = result.node_of_point if isinstance(result, Solution) else np.asarray(result)
        cost = assignment_cost(points, node, rows, cols)
        scale = proof.lower_bound + n * cell_width(rows, cols) ** 2
        out.append(
            {
                **base,
                "solver": name,
                "threads": t,
                "seconds": statistics.median(r[0] for r in rr),
                "seconds_all": [r[0] for r in rr],
                "cpu_seconds": statistics.median(r[1] for r in rr),
                "peak_mib": peak_mib(name, kind, n, args, t) if args.memory else None,
                "cost": cost,
                "lower_bound": proof.lower_bound,
                "same_for_all_threads": same,
                "certified": bool(cost - proof.lower_bound <= OPTIMALITY_RTOL * scale),
            }
        )
    add_ratios(out)
    return out


def add_ratios(rows: list[dict]) -> None:
    """``x_scipy``, ``x_lapjv`` on our one-thread row and ``x_1thread`` on every row of ours."""
    timed_rows = [r for r in rows if "seconds" in r]
    one = next((r for r in timed_rows if r["solver"] == "auto" and r["threads"] == 1), None)
    for r in timed_rows:
        if r["solver"] == "auto" and one:
            r["x_1thread"] = one["seconds"] / r["seconds"]
    for peer in ("scipy", "lapjv"):
        theirs = next((r for r in timed_rows if r["solver"] == peer), None)
        if one and theirs:
            one[f"x_{peer}"] = theirs["seconds"] / one["seconds"]


def first_call_seconds() -> float:
    """Wall time of the first solve in this process: numba compiles or loads its cache."""
    start = time.perf_counter()
    solve_lattice(np.random.default_rng(0).random((300, 2)), 20, 20)
    return time.perf_counter() - start


# ---------------------------------------------------------------- report


def format_table(rows: list[dict]) -> str:
    head = (
        f"{'kind':7} {'N':>7} {'grid':>9} {'mask':5} {'solver':6} {'thr':>3} {'median s':>9} "
        f"{'cpu s':>8} {'x 1thr':>6} {'x scipy':>8} {'x lapjv':>8} {'cost':>14} {'cert':>5} "
        f"{'same':>4} {'peak MiB':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        grid = f"{r['rows']}x{r['cols']}"
        first = f"{r['kind']:7} {r['n']:>7} {grid:>9} {r['mask']:5} {r['solver']:6}"
        if "skipped" in r:
            lines.append(f"{first} skipped: {r['skipped']}")
            continue
        spec = (("x_1thread", 6, 2), ("x_scipy", 8, 1), ("x_lapjv", 8, 1))
        ratios = [f"{r[k]:>{w}.{d}f}" if k in r else f"{'':>{w}}" for k, w, d in spec]
        peak = f"{r['peak_mib']:>9.1f}" if r["peak_mib"] is not None else f"{'-':>9}"
        lines.append(
            f"{first} {r['threads']:>3} {r['seconds']:>9.3f} {r['cpu_seconds']:>8.2f} "
            f"{' '.join(ratios)} {r['cost']:>14.6f} {'yes' if r['certified'] else 'NO':>5} "
            f"{'yes' if r['same_for_all_threads'] else 'NO':>4} {peak}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2500,4900,10000,70000", help="comma-separated N")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {KINDS}")
    ap.add_argument("--solvers", default=",".join(SOLVERS), help=f"comma-separated, of {SOLVERS}")
    ap.add_argument("--repeats", type=int, default=3, help="runs per solver and instance")
    ap.add_argument("--dense-max-n", type=int, default=2500, help="largest N for scipy/lapjv")
    ap.add_argument("--empty", type=float, default=0.0, help="extra share of empty cells")
    ap.add_argument("--threads", default="1", help="comma-separated thread counts for ours")
    ap.add_argument(
        "--mask",
        choices=("none", "disc"),
        default="none",
        help="usable cells: all, or the disc inscribed in a square grid",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--points",
        type=Path,
        default=None,
        help="an (n, 2) .npy of your own points: one instance of kind 'file' (--sizes ignored)",
    )
    ap.add_argument(
        "--no-memory",
        dest="memory",
        action="store_false",
        help="skip the peak-memory runs (one fresh process per solver and instance)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "assignment.json")
    args = ap.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.kinds = args.kinds.split(",")
    args.solvers = args.solvers.split(",")
    args.threads = [int(t) for t in args.threads.split(",")]
    unknown = [k for k in args.kinds if k not in KINDS]
    if unknown and args.points is None:
        ap.error(f"--kinds {','.join(unknown)}: use {', '.join(KINDS)}, or --points FILE")
    if args.points is not None:
        args.kinds, args.sizes = ["file"], [len(points_file(args.points))]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    first = first_call_seconds()
    print(f"first call (numba compile or cache load): {first:.2f} s")
    rows: list[dict] = []
    for kind in args.kinds:
        for n in args.sizes:
            rows += run_instance(kind, n, args)
            print(format_table([r for r in rows if r["kind"] == kind and r["n"] == n]), flush=True)
    print("\n" + format_table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "schema": "tsnegrid.benchmark.assignment",
        "schema_version": 2,
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "first_call_seconds": first,
        "results": rows,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
