"""Toward a million images: the approximate neighbour search and our t-SNE at 1,000,000 points.

    python benchmarks/million.py                      # 1,000,000 points, 2 threads
    python benchmarks/million.py --n 300000 --max-iter 300

Features as in benchmarks/neighbours.py (Fashion-MNIST and seeded shifted/flipped copies, PCA-100
on the originals' axes). Measured: seconds and the process's peak memory after each stage (the
approximate search, its recall@10 on 2,000 seeded rows, t-SNE), t-SNE's seconds per iteration
in the early-exaggeration and the late phase (from its progress callback), and what the embedding
keeps: 10-NN preservation on the 2,000 rows whose exact neighbours are known, and 5-NN accuracy
on 20,000 seeded points. Each stage's numbers are written to ``benchmarks/results/million.json``
as soon as they are known, so an interrupted run still leaves them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from neighbours import SEED, K, pca_features, peak_gib  # benchmarks/neighbours.py

from tsnegrid.embed.approx import approximate_neighbours, neighbour_recall
from tsnegrid.embed.knn import nearest_others
from tsnegrid.embed.tsne import EARLY_EXAGGERATION_ITER, embed_tsne
from tsnegrid.runtime.workers import single_thread_blas

RESULTS = Path(__file__).resolve().parent / "results"


class Clock:
    """Records (fraction done, seconds since start) from t-SNE's progress callback."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: list[tuple[float, float]] = []

    def __call__(self, fraction: float) -> None:
        self.marks.append((fraction, time.perf_counter() - self.start))
        print(f"  t-SNE {fraction:.3f} done at {self.marks[-1][1]:.1f} s", flush=True)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=750)
    parser.add_argument("--out", type=Path, default=RESULTS / "million.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"n": args.n, "threads": args.threads, "k": K}

    def note(**values: Any) -> None:
        info.update(values, peak_gib=peak_gib())
        args.out.write_text(json.dumps(info, indent=2) + "\n")
        print(json.dumps(values), f"peak {peak_gib():.2f} GiB", flush=True)

    with single_thread_blas():
        start = time.perf_counter()
        features, labels = pca_features(args.n, SEED)
        note(features_s=time.perf_counter() - start)
        start, cpu = time.perf_counter(), time.process_time()
        neighbours = approximate_neighbours(features, K, seed=SEED, threads=args.threads)
        note(approx_s=time.perf_counter() - start, approx_cpu_s=time.process_time() - cpu)
        start = time.perf_counter()
        recall = neighbour_recall(features, neighbours.indices, seed=SEED, threads=args.threads)
        note(recall10=recall, recall_s=time.perf_counter() - start)
        clock = Clock()
        points = embed_tsne(
            features,
            perplexity=30.0,
            seed=SEED,
            threads=args.threads,
            max_iter=args.max_iter,
            neighbours=neighbours,
            progress=clock,
        ).points
        total = time.perf_counter() - clock.start
        early = EARLY_EXAGGERATION_ITER / args.max_iter
        first = next((s for f, s in clock.marks if f > 0), total)
        at_early = next((s for f, s in clock.marks if f >= early), total)
        note(
            tsne_s=total,
            tsne_to_first_progress_s=first,
            tsne_early_phase_s=at_early - first,
            tsne_late_phase_s=total - at_early,
            progress_marks=clock.marks[:: max(1, len(clock.marks) // 40)],
        )
        note(**kept_and_accuracy(points, features, labels))


if __name__ == "__main__":
    main()
