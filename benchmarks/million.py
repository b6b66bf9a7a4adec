"""Toward a million images: our t-SNE at 1,000,000 points, through a sample or on all points.

    python benchmarks/million.py                      # 1,000,000 points, 2 threads, sampled
    python benchmarks/million.py --n 200000 --sample-from 199999   # sampled at 200,000
    python benchmarks/million.py --n 200000 --full    # all points (approximate neighbours)
    python benchmarks/million.py --full --max-iter 300
    python benchmarks/million.py --save-points million.npy   # then benchmarks/assignment.py

Features as in benchmarks/neighbours.py (Fashion-MNIST and seeded shifted/flipped copies, PCA-100
on the originals' axes; ``--cache DIR`` keeps them in DIR between runs). By default
``embed_tsne`` as the pipeline calls it: above ``--sample-from`` points a seeded sample is
embedded and the others placed and refined (tsnegrid.embed.sampled). With ``--full``: the
approximate search of all points, its recall@10 on 2,000 seeded rows, then t-SNE of all points.
Measured: wall and CPU seconds, the process's peak memory and the load average, t-SNE's progress
marks (seconds at each fraction done), and what the embedding keeps: 10-NN preservation on 2,000
seeded rows whose exact neighbours are known, and 5-NN accuracy on 20,000 seeded points. Each
stage's numbers are written to ``--out`` (default ``benchmarks/results/million.json``) as soon
as they are known, so an interrupted run still leaves them. ``--save-points FILE`` keeps the
embedding (``(n, 2)``, normalised to the unit square as the pipeline normalises it) for
``benchmarks/assignment.py --points FILE``: the exact assignment of a real million-image layout.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from neighbours import SEED, K, pca_features, peak_gib  # benchmarks/neighbours.py

from tsnegrid.embed.approx import approximate_neighbours, neighbour_recall
from tsnegrid.embed.knn import nearest_others
from tsnegrid.embed.tsne import EARLY_EXAGGERATION_ITER, SAMPLE_FROM, embed_tsne
from tsnegrid.runtime.workers import single_thread_blas

RESULTS = Path(__file__).resolve().parent / "results"


class Clock:
    """Records (fraction done, wall seconds, CPU seconds since start) from t-SNE's progress
    callback."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.cpu = time.process_time()
        self.marks: list[tuple[float, float, float]] = []

    def __call__(self, fraction: float) -> None:
        wall, cpu = time.perf_counter() - self.start, time.process_time() - self.cpu
        self.marks.append((fraction, wall, cpu))
        print(f"  t-SNE {fraction:.3f} done at {wall:.1f} s, {cpu:.1f} CPU-s", flush=True)


def kept_and_accuracy(points: np.ndarray, features: np.ndarray, labels: np.ndarray) -> dict:
    """10-NN preservation on 2,000 seeded rows, 5-NN accuracy on 20,000 seeded points."""
    rng = np.random.default_rng(SEED)
    rows = np.sort(rng.choice(len(points), min(2000, len(points)), replace=False))
    truth, _ = nearest_others(features, 10, rows=rows, threads=2)
    found, _ = nearest_others(points, 10, rows=rows, threads=2)
    kept = np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(found, truth, strict=True)])
    rows = np.sort(rng.choice(len(points), min(20_000, len(points)), replace=False))
    near, _ = nearest_others(points, 5, rows=rows, threads=2)
    votes = labels[near]
    guess = np.array([np.bincount(v, minlength=labels.max() + 1).argmax() for v in votes])
    return {"knn10_kept": float(kept), "acc5": float(np.mean(guess == labels[rows]))}


def features_of(n: int, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """benchmarks/neighbours.py's features and labels, kept in ``cache`` when given."""
    if cache is None:
        return pca_features(n, SEED)
    files = cache / f"million-features-{n}-{SEED}.npy", cache / f"million-labels-{n}-{SEED}.npy"
    if not files[0].exists():
        cache.mkdir(parents=True, exist_ok=True)
        for file, values in zip(files, pca_features(n, SEED), strict=True):
            np.save(file, values)
    return np.load(files[0]), np.load(files[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=750)
    parser.add_argument("--full", action="store_true", help="t-SNE of all points")
    parser.add_argument("--sample-from", type=int, default=SAMPLE_FROM)
    parser.add_argument("--cache", type=Path, default=None, help="folder for the features")
    parser.add_argument("--out", type=Path, default=RESULTS / "million.json")
    parser.add_argument("--save-points", type=Path, default=None, help="write the embedding (.npy)")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"n": args.n, "threads": args.threads, "full": args.full}

    def note(**values: Any) -> None:
        info.update(values, peak_gib=peak_gib(), load=os.getloadavg())
        args.out.write_text(json.dumps(info, indent=2) + "\n")
        print(json.dumps(values), f"peak {peak_gib():.2f} GiB", flush=True)

    with single_thread_blas():
        start = time.perf_counter()
        features, labels = features_of(args.n, args.cache)
        note(features_s=time.perf_counter() - start)
        points = (full_tsne if args.full else sampled_tsne)(features, args, note)
        if args.save_points is not None:
            np.save(args.save_points, points)
        note(**kept_and_accuracy(points, features, labels))


def sampled_tsne(features: np.ndarray, args: argparse.Namespace, note: Any) -> np.ndarray:
    """``embed_tsne`` as the pipeline calls it, without neighbours: sampled above
    ``--sample-from``."""
    clock = Clock()
    cpu = time.process_time()
    embedding = embed_tsne(
        features,
        perplexity=30.0,
        seed=SEED,
        threads=args.threads,
        max_iter=args.max_iter,
        progress=clock,
        sample_from=args.sample_from,
    )
    note(
        tsne_s=time.perf_counter() - clock.start,
        tsne_cpu_s=time.process_time() - cpu,
        sample_from=args.sample_from,
        notes=embedding.notes,
        progress_marks=clock.marks,
    )
    return embedding.points


def full_tsne(features: np.ndarray, args: argparse.Namespace, note: Any) -> np.ndarray:
    """The approximate search of all points, its recall, and t-SNE of all points."""
    info_k = {"k": K}
    start, cpu = time.perf_counter(), time.process_time()
    neighbours = approximate_neighbours(features, K, seed=SEED, threads=args.threads)
    note(approx_s=time.perf_counter() - start, approx_cpu_s=time.process_time() - cpu, **info_k)
    start = time.perf_counter()
    recall = neighbour_recall(features, neighbours.indices, seed=SEED, threads=args.threads)
    note(recall10=recall, recall_s=time.perf_counter() - start)
    clock = Clock()
    cpu = time.process_time()
    points = embed_tsne(
        features,
        perplexity=30.0,
        seed=SEED,
        threads=args.threads,
        max_iter=args.max_iter,
        neighbours=neighbours,
        progress=clock,
        sample_from=args.n,
    ).points
    total = time.perf_counter() - clock.start
    early = EARLY_EXAGGERATION_ITER / args.max_iter
    first = next((s for f, s, _ in clock.marks if f > 0), total)
    at_early = next((s for f, s, _ in clock.marks if f >= early), total)
    note(
        tsne_s=total,
        tsne_cpu_s=time.process_time() - cpu,
        tsne_to_first_progress_s=first,
        tsne_early_phase_s=at_early - first,
        tsne_late_phase_s=total - at_early,
        progress_marks=clock.marks[:: max(1, len(clock.marks) // 40)],
    )
    return points


if __name__ == "__main__":
    main()
