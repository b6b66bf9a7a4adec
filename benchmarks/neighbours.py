"""Exact against approximate nearest neighbours on Fashion-MNIST PCA-100 features.

    python benchmarks/neighbours.py                      # 10,000 and 70,000; threads 1 and 2
    python benchmarks/neighbours.py --sizes 200000 --methods exact hnswlib --threads 2
    python benchmarks/neighbours.py --sizes 1000000 --methods hnswlib --threads 2
    python benchmarks/neighbours.py --sizes 70000 --methods --tsne 70000   # t-SNE quality only

Features: the 70,000 Fashion-MNIST images, and beyond 70,000 seeded copies shifted by up to
2 pixels and flipped left-right half the time, all projected on the first 100 principal axes of
the 70,000 originals (sizes below 70,000 take a seeded sample). Each method looks for the
k = 90 neighbours t-SNE uses at perplexity 30: ``exact`` (tsnegrid.embed.knn), ``hnswlib``
(tsnegrid.embed.approx: graph built on one thread, queries on ``threads``), ``pynndescent``
(NNDescent with ``n_jobs=threads``). Interleaved in one process, all on one BLAS thread (the
pipeline's setting); above ``--exact-max`` the exact search is timed on 20,000 seeded query
rows and scaled to all (its cost is linear in the rows). Reported: wall seconds, CPU seconds
(steadier on a shared machine), recall@10 against the exact search on 2,000 seeded rows, and
the process's peak memory so far. With
``--tsne N``: our t-SNE on exact and on approximate neighbours at N, scored as benchmarks/tsne.py
scores (10-NN kept, 5-NN accuracy). Written to ``benchmarks/results/neighbours.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tsnegrid.data.datasets import load_dataset
from tsnegrid.embed.approx import approximate_neighbours, neighbour_recall
from tsnegrid.embed.knn import nearest_others
from tsnegrid.runtime.workers import single_thread_blas

RESULTS = Path(__file__).resolve().parent / "results"
K = 90
SEED = 777
FASHION = 70_000


def augmented_pixels(
    pixels: NDArray[np.uint8], n: int, seed: int
) -> tuple[NDArray[np.uint8], NDArray[np.intp]]:
    """``n`` images and the original each comes from: below the originals' count a seeded
    sample; above, the originals and then seeded copies shifted by -2..2 pixels (zero fill) and
    flipped left-right half the time. (n, 28, 28) uint8, (n,) indices."""
    rng = np.random.default_rng(seed)
    if n <= len(pixels):
        pick = np.sort(rng.choice(len(pixels), n, replace=False))
        return pixels[pick], pick
    source = np.concatenate([np.arange(len(pixels)), rng.integers(0, len(pixels), n - len(pixels))])
    out = pixels[source]
    shifts, flips = rng.integers(-2, 3, (n, 2)), rng.random(n) < 0.5
    shifts[: len(pixels)], flips[: len(pixels)] = 0, False
    out[flips] = out[flips, :, ::-1]
    for dy, dx in {(int(a), int(b)) for a, b in shifts}:
        if dy == dx == 0:
            continue
        mine = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
        moved = np.roll(out[mine], (dy, dx), axis=(1, 2))
        moved[:, : max(dy, 0)], moved[:, moved.shape[1] + min(dy, 0) :] = 0, 0  # no wrapping
        moved[:, :, : max(dx, 0)], moved[:, :, moved.shape[2] + min(dx, 0) :] = 0, 0
        out[mine] = moved
    return out, source


def pca_features(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """(n, 100) float64 scores on the originals' first 100 principal axes, and the labels."""
    images = load_dataset("fashion-mnist", data_dir=Path("data"), threads=2)
    x = images.pixels.reshape(FASHION, -1).astype(np.float64) / 255.0
    mean = x.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
    axes = vectors[:, ::-1][:, :100]
    pixels, source = augmented_pixels(images.pixels, n, seed)
    labels = images.labels[source]
    out = np.empty((n, 100))
    for lo in range(0, n, 50_000):
        block = pixels[lo : lo + 50_000].reshape(-1, 784).astype(np.float64) / 255.0
        out[lo : lo + 50_000] = (block - mean) @ axes
    return out, labels


def exact(features: NDArray[np.float64], threads: int) -> NDArray[np.intp]:
    return nearest_others(features, K, threads=threads)[0]


#: Query rows the exact search is timed on above ``--exact-max`` (its cost is linear in them).
EXACT_ROWS = 20_000


def exact_estimate(features: NDArray[np.float64], threads: int) -> dict[str, Any]:
    """The exact search's seconds, from EXACT_ROWS seeded query rows scaled to all rows."""
    n = len(features)
    m = min(n, EXACT_ROWS)
    rows = np.sort(np.random.default_rng(SEED).choice(n, m, replace=False))
    wall, cpu = time.perf_counter(), time.process_time()
    nearest_others(features, K, rows=rows, threads=threads)
    scale = n / m
    wall, cpu = (time.perf_counter() - wall) * scale, (time.process_time() - cpu) * scale
    print(
        f"  N={n:>9,} exact (est.) threads {threads}: {wall:7.1f} s wall {cpu:7.1f} s CPU "
        f"(from {m:,} query rows)",
        flush=True,
    )
    return {
        "n": n,
        "method": "exact (est.)",
        "threads": threads,
        "k": K,
        "repeats": 1,
        "wall_s": wall,
        "cpu_s": cpu,
        "recall10": 1.0,
        "peak_gib": peak_gib(),
    }


def hnsw(features: NDArray[np.float64], threads: int) -> NDArray[np.intp]:
    return approximate_neighbours(features, K, seed=SEED, threads=threads).indices


def nndescent(features: NDArray[np.float64], threads: int) -> NDArray[np.intp]:
    import pynndescent

    index = pynndescent.NNDescent(
        features.astype(np.float32), n_neighbors=K + 1, random_state=SEED, n_jobs=threads
    )
    found = index.neighbor_graph[0]
    is_self = found == np.arange(len(found))[:, None]
    keep = np.argsort(is_self, axis=1, kind="stable")[:, :K]
    return np.take_along_axis(found, keep, axis=1)


METHODS: dict[str, Callable[[NDArray[np.float64], int], NDArray[np.intp]]] = {
    "exact": exact,
    "hnswlib": hnsw,
    "pynndescent": nndescent,
}


def measure(run: Callable[[], NDArray[np.intp]]) -> tuple[float, float, NDArray[np.intp]]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def bench_size(n: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    features, _ = pca_features(n, SEED)
    limits = {"exact": args.exact_max, "pynndescent": args.pynndescent_max}
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    recall: dict[tuple[str, int], float] = {}
    estimates: list[dict[str, Any]] = []
    for _ in range(args.repeats):  # interleaved: method by method within each repeat
        for method in args.methods:
            for threads in args.threads:
                if n > limits.get(method, n):
                    if method == "exact":
                        estimates.append(exact_estimate(features, threads))
                    continue
                search = partial(METHODS[method], features, threads)
                wall, cpu, idx = measure(search)
                runs.setdefault((method, threads), []).append((wall, cpu))
                recall[(method, threads)] = neighbour_recall(features, idx, seed=SEED, threads=2)
                print(
                    f"  N={n:>9,} {method:<11} threads {threads}: {wall:7.1f} s wall "
                    f"{cpu:7.1f} s CPU  recall@10 {recall[(method, threads)]:.4f}  "
                    f"peak {peak_gib():.2f} GiB",
                    flush=True,
                )
    return [
        {
            "n": n,
            "method": m,
            "threads": t,
            "k": K,
            "repeats": len(v),
            "wall_s": statistics.median(w for w, _ in v),
            "cpu_s": statistics.median(c for _, c in v),
            "recall10": recall[(m, t)],
            "peak_gib": peak_gib(),
        }
        for (m, t), v in runs.items()
    ] + estimates


def bench_tsne(n: int, threads: int) -> dict[str, Any]:
    """Our t-SNE on exact and on approximate neighbours: time and what each embedding keeps."""
    from tsne import scores  # benchmarks/tsne.py, beside this script

    from tsnegrid.embed.knn import nearest_others as search
    from tsnegrid.embed.tsne import embed_tsne
    from tsnegrid.results import Neighbours

    features, labels = pca_features(n, SEED)
    idx, sq = search(features, K, threads=threads)
    truth = Neighbours(idx, np.sqrt(sq))
    approx = approximate_neighbours(features, K, seed=SEED, threads=threads)
    row: dict[str, Any] = {"n": n, "threads": threads}
    for name, nb in (("exact", truth), ("approx", approx)):
        start = time.perf_counter()
        points = embed_tsne(
            features, perplexity=30.0, seed=SEED, threads=threads, neighbours=nb
        ).points
        kept, acc = scores(points, truth.indices, labels)
        row[name] = {"tsne_s": time.perf_counter() - start, "knn10_kept": kept, "acc5": acc}
        print(
            f"  t-SNE N={n:,} on {name} neighbours: {row[name]['tsne_s']:.1f} s, "
            f"10-NN kept {kept:.4f}, 5-NN accuracy {acc:.4f}",
            flush=True,
        )
    row["recall10"] = neighbour_recall(features, approx.indices, seed=SEED, threads=threads)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 70_000])
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1, help="runs per method (median kept)")
    parser.add_argument(
        "--exact-max",
        type=int,
        default=100_000,
        help="largest N searched exactly (above: estimated)",
    )
    parser.add_argument(
        "--pynndescent-max",
        type=int,
        default=70_000,
        help="largest N given to pynndescent (slow at k = 90)",
    )
    parser.add_argument("--tsne", type=int, default=0, help="also compare t-SNE at this N")
    parser.add_argument("--out", type=Path, default=RESULTS / "neighbours.json")
    args = parser.parse_args()
    with single_thread_blas():
        hnsw(np.random.default_rng(0).random((200, 5)), 1)  # load the kernels before timing
        rows = [row for n in args.sizes if args.methods for row in bench_size(n, args)]
        tsne = bench_tsne(args.tsne, max(args.threads)) if args.tsne else None
    print(f"\n{'N':>9} {'method':<12} {'thr':>3} {'wall s':>8} {'CPU s':>8} {'recall@10':>9}")
    for r in rows:
        print(
            f"{r['n']:>9,} {r['method']:<12} {r['threads']:>3} {r['wall_s']:>8.1f} "
            f"{r['cpu_s']:>8.1f} {r['recall10']:>9.4f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"k": K, "runs": rows, "tsne": tsne}, indent=2) + "\n")


if __name__ == "__main__":
    main()
