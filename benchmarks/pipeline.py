"""The whole pipeline on Fashion-MNIST at several sizes, beside the notebook's recipe.

    python benchmarks/pipeline.py                       # 2,500, 10,000 and 70,000 images
    python benchmarks/pipeline.py --sizes 2500 --repeats 3
    python benchmarks/pipeline.py --sizes 10000 70000 --threads 1,2 --no-reference
    python benchmarks/pipeline.py --sizes 1000000 --no-reference   # a million images

Each run is a fresh subprocess (so peak memory is the run's own): ours is ``generate.py`` with
the cache off; the reference is the src-d notebook's recipe, rebuilt here: scikit-learn's PCA and
Barnes-Hut t-SNE, lapjv on the dense cost matrix scaled to 100,000, and the notebook's five
matplotlib figures drawn its way (every image an ``AnnotationBbox``, every move an arrow). It
prints per-stage seconds, peak memory and the end-to-end ratio, and writes everything to
``benchmarks/results/pipeline.json`` (or ``--out``). With ``--threads 1,2`` (or ``1,4,16``) ours
runs at each thread count, interleaved, and the speed-up of every stage over the first count is
printed.

Above 70,000 images the set is built first, once: Fashion-MNIST's 70,000 images and then seeded
copies shifted by up to 2 pixels and flipped left-right half the time
(``benchmarks/neighbours.py``'s ``augmented_pixels``), written as the four IDX files under
``data/fashion-<n>/fashion-mnist/`` (the last 10,000 as the test files), and ``generate.py
--all`` runs on it with ``--data-dir data/fashion-<n>``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


FASHION = 70_000
TEST_IMAGES = 10_000


def run_ours(n: int, out: Path, tsne_iter: int | None, threads: int = 2) -> dict[str, Any]:
    """``generate.py`` on ``n`` Fashion-MNIST images; stage seconds from its timings.json."""
    size = ["--all"] if n >= FASHION else ["--n", str(n)]
    if n > FASHION:
        size += ["--data-dir", str(augmented_set(n))]
    size += [] if tsne_iter is None else ["--tsne-iter", str(tsne_iter)]
    size += ["--threads", str(threads)]
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "generate.py",
            "--dataset",
            "fashion-mnist",
            *size,
            "--no-cache",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    timings = json.loads((out / "timings.json").read_text())
    stages = {s["name"]: s["seconds"] for s in timings["stages"]}
    # What no stage covers: starting Python and importing, then writing the files.
    stages["start+write"] = wall - sum(stages.values())
    return {"wall_seconds": wall, "stages": stages, "peak_mib": timings["peak_mib"]}


def augmented_set(n: int) -> Path:
    """The data folder of an ``n``-image Fashion-MNIST set (built once, then reused)."""
    root = ROOT / "data" / f"fashion-{n}"
    folder = root / "fashion-mnist"
    if (folder / "t10k-labels-idx1-ubyte").is_file():
        return root
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from neighbours import augmented_pixels  # benchmarks/neighbours.py

    from tsnegrid.data import load_dataset

    fashion = load_dataset("fashion-mnist", data_dir=ROOT / "data", threads=2)
    pixels, source = augmented_pixels(fashion.pixels, n, seed=777)
    labels = fashion.labels[source].astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    cut = n - TEST_IMAGES
    for stem, images, marks in (
        ("train", pixels[:cut], labels[:cut]),
        ("t10k", pixels[cut:], labels[cut:]),
    ):
        write_idx(folder / f"{stem}-images-idx3-ubyte", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte", marks)
    return root


def write_idx(path: Path, values: np.ndarray) -> None:
    """An IDX file of unsigned bytes: magic (0, 0, 8, dims), one big-endian size per axis."""
    header = bytes([0, 0, 8, values.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in values.shape
    )
    partial = path.with_suffix(".partial")
    with partial.open("wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(values, dtype=np.uint8).tobytes())
    partial.replace(path)  # an interrupted build leaves no file that looks complete


def run_reference(n: int) -> dict[str, Any]:
    """The notebook's recipe in a subprocess (this file with ``--reference N``)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--reference", str(n)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    result["wall_seconds"] = time.perf_counter() - start
    result["stages"]["start"] = result["wall_seconds"] - sum(result["stages"].values())
    return result


def reference_recipe(n: int) -> dict[str, Any]:
    """PCA, scikit-learn t-SNE, lapjv and AnnotationBbox figures, timed stage by stage."""
    import lapjv
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    from tsnegrid.assign.grid import grid_nodes
    from tsnegrid.data import load_dataset, sample_images

    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = now - clock
        clock = now

    images = sample_images(load_dataset("fashion-mnist"), n, seed=777)
    side = int(np.ceil(np.sqrt(n)))
    x = images.pixels.reshape(n, -1).astype(np.float32) / 255
    lap("load")
    x = PCA(n_components=100).fit_transform(x)
    lap("pca")
    emb = TSNE(n_components=2, perplexity=30, random_state=777).fit_transform(x)
    emb -= emb.min(axis=0)
    emb /= emb.max(axis=0)
    lap("tsne")
    nodes = grid_nodes(side, side)
    cost = ((emb[:, None, :] - nodes[None, :, :]) ** 2).sum(axis=-1)
    cost = np.vstack([cost, np.zeros((side * side - n, side * side))])
    cost = cost * (100_000 / cost.max())
    _, col_of_row, _ = lapjv.lapjv(cost)
    lap("assignment")
    _notebook_figures(emb, nodes[col_of_row[:n]], nodes, images.pixels, images.labels)
    lap("figures")
    return {"stages": stages, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _notebook_figures(emb: Any, cells: Any, nodes: Any, pixels: Any, labels: Any) -> None:
    """The notebook's five figures, drawn its way: one artist per image or arrow."""
    import io

    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    cmap = colormaps["tab10"]

    def save(fig: Figure) -> None:
        fig.savefig(io.BytesIO(), format="png")

    def images_at(positions: Any, background: str) -> None:
        fig = Figure(figsize=(12, 12), facecolor=background)
        ax = fig.add_subplot(facecolor=background)
        for (px, py), img in zip(positions, pixels, strict=True):
            box = OffsetImage(img, zoom=0.4, cmap="gray")
            ax.add_artist(AnnotationBbox(box, (px, py), frameon=False))
        save(fig)

    fig = Figure(figsize=(10, 10))
    ax = fig.add_subplot()
    fig.colorbar(ax.scatter(emb[:, 0], emb[:, 1], c=labels, cmap="tab10", s=8), ax=ax)
    save(fig)
    images_at(emb, "black")
    fig = Figure(figsize=(10, 10))
    fig.add_subplot().scatter(nodes[:, 0], nodes[:, 1], s=2, color="black")
    save(fig)
    fig = Figure(figsize=(10, 10))
    ax = fig.add_subplot()
    for start, end, label in zip(emb, cells, labels, strict=True):
        ax.arrow(
            start[0],
            start[1],
            end[0] - start[0],
            end[1] - start[1],
            head_length=0.005,
            head_width=0.005,
            color=cmap(label),
        )
    save(fig)
    images_at(cells, "white")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 10_000, 70_000])
    parser.add_argument("--repeats", type=int, default=1, help="runs per size (median kept)")
    parser.add_argument("--reference", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-reference", action="store_true", help="skip the notebook's recipe")
    parser.add_argument(
        "--tsne-iter", type=int, help="our t-SNE iterations (default: generate.py's)"
    )
    parser.add_argument(
        "--threads",
        default="2",
        help="comma-separated thread counts for ours, e.g. 1,2: per-stage speed-ups (default 2)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "pipeline.json",
        help="where the JSON goes (default: %(default)s)",
    )
    args = parser.parse_args()
    if args.reference:
        print(json.dumps(reference_recipe(args.reference)))
        return
    rows = []
    counts = [int(c) for c in args.threads.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            by_threads: dict[int, list[dict[str, Any]]] = {c: [] for c in counts}
            for i in range(args.repeats):  # interleaved, so that load drifts hit every count
                for c in counts:
                    out = Path(tmp) / f"run-{n}-{c}-{i}"
                    by_threads[c].append(run_ours(n, out, args.tsne_iter, threads=c))
            row: dict[str, Any] = {
                "n": n,
                "tsne_iter": args.tsne_iter,
                "ours": _median(by_threads[counts[0]]),
                "threads": {c: _median(r) for c, r in by_threads.items()},
            }
            if len(counts) > 1:
                _print_speedups(n, by_threads)
            if n <= 2500 and not args.no_reference:
                row["reference"] = _median([run_reference(n) for _ in range(args.repeats)])
            rows.append(row)
            _print_row(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": rows}, indent=2) + "\n")


def _print_speedups(n: int, by_threads: dict[int, list[dict[str, Any]]]) -> None:
    """Each stage's median seconds at every thread count, and its speed-up over the first count:
    the median over the repeats of the ratio within each repeat (its runs follow each other, so
    the machine's drift hits both alike), with their range."""
    counts = list(by_threads)
    base = by_threads[counts[0]]
    print(f"N={n:,}: median seconds by threads {counts}, speed-up over {counts[0]} thread(s)")
    print("    (median of the ratios within each repeat, and their range)")
    for stage in base[0]["stages"]:
        cells = " / ".join(f"{_stage_median(by_threads[c], stage):.2f}" for c in counts)
        ups = ", ".join(_ratio_text(base, by_threads[c], stage) for c in counts[1:])
        print(f"    {stage:<12} {cells:>24} s   {ups}")
    cells = " / ".join(
        f"{statistics.median(r['wall_seconds'] for r in by_threads[c]):.2f}" for c in counts
    )
    ups = ", ".join(_ratio_text(base, by_threads[c], None) for c in counts[1:])
    print(f"    {'end to end':<12} {cells:>24} s   {ups}")


def _stage_median(runs: list[dict[str, Any]], stage: str) -> float:
    return statistics.median(float(r["stages"].get(stage, float("nan"))) for r in runs)


def _ratio_text(base: list[dict[str, Any]], runs: list[dict[str, Any]], stage: str | None) -> str:
    """``1.83x (1.71-1.90x)``: the per-repeat ratios of ``stage`` (None: the wall time)."""

    def seconds(run: dict[str, Any]) -> float:
        return float(run["wall_seconds"] if stage is None else run["stages"].get(stage, 0.0))

    ratios = [seconds(a) / seconds(b) for a, b in zip(base, runs, strict=True) if seconds(b) > 0]
    if not ratios:
        return "-"
    text = f"{statistics.median(ratios):.2f}x"
    return text if len(ratios) == 1 else f"{text} ({min(ratios):.2f}-{max(ratios):.2f}x)"


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time, with the median, the number of repeats and every run's
    stage seconds (``all_stages``, in the order they ran)."""
    median = statistics.median(float(r["wall_seconds"]) for r in runs)
    middle = min(runs, key=lambda r: abs(float(r["wall_seconds"]) - median))
    every = [r["stages"] for r in runs]
    return {**middle, "repeats": len(runs), "median_wall_seconds": median, "all_stages": every}


def _print_row(row: dict[str, Any]) -> None:
    ours = row["ours"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in ours["stages"].items())
    print(
        f"N={row['n']:>6,}: ours {ours['median_wall_seconds']:7.1f} s end to end "
        f"(peak {ours['peak_mib']:,.0f} MiB; {stages})"
    )
    ref = row.get("reference")
    if ref is not None:
        ref_stages = ", ".join(f"{k} {v:.1f}" for k, v in ref["stages"].items())
        ratio = ref["median_wall_seconds"] / ours["median_wall_seconds"]
        print(
            f"          notebook {ref['median_wall_seconds']:7.1f} s "
            f"(peak {ref['peak_mib']:,.0f} MiB; {ref_stages}) -> ours is {ratio:.1f}x faster"
        )


if __name__ == "__main__":
    main()
