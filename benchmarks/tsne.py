"""t-SNE engines side by side on Fashion-MNIST: ours (tsnegrid.embed.bhtsne), openTSNE,
scikit-learn.

    python benchmarks/tsne.py                          # 2,500 and 10,000 images
    python benchmarks/tsne.py --sizes 70000 --repeats 1

In one process, on the same PCA features and the same exact neighbours: our engine; openTSNE as
the ``opentsne`` engine runs it (Barnes-Hut below 10,000 points, FFT from 10,000, affinities from
the same neighbours); scikit-learn's Barnes-Hut (the notebook's) up to 2,500 points. Each gets
``--threads`` threads and the engine's default iterations (750; scikit-learn 1,000). Reported:
the median seconds, the ratio to ours, and what each embedding keeps: the share of each point's
10 nearest neighbours in feature space among its 10 nearest in the embedding, and the 5-NN
classification accuracy in the embedding (leave one out). Written to
``benchmarks/results/tsne.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tsnegrid.data.datasets import load_dataset
from tsnegrid.data.sample import sample_images
from tsnegrid.embed.neighbours import feature_neighbours, tsne_neighbour_count
from tsnegrid.embed.pca import pixel_features, reduce_pca
from tsnegrid.embed.tsne import embed_tsne
from tsnegrid.results import Neighbours

RESULTS = Path(__file__).resolve().parent / "results"
PERPLEXITY = 30.0
SEED = 777


def scores(
    points: NDArray[np.float64], features_nn: NDArray[np.intp], labels: NDArray[np.int64]
) -> tuple[float, float]:
    """(10-NN preservation, 5-NN accuracy) of a 2-D embedding."""
    from scipy.spatial import cKDTree

    found = cKDTree(points).query(points, k=11)[1][:, 1:]
    kept = np.mean(
        [np.intersect1d(a, b).size / 10 for a, b in zip(found, features_nn[:, :10], strict=True)]
    )
    votes = labels[found[:, :5]]
    predicted = np.array([np.bincount(v, minlength=labels.max() + 1).argmax() for v in votes])
    return float(kept), float(np.mean(predicted == labels))


def timed(run: Callable[[], NDArray[np.float64]], repeats: int) -> tuple[float, NDArray]:
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    assert result is not None
    return statistics.median(seconds), result


def bench(n: int, repeats: int, threads: int, sklearn_max: int) -> dict[str, Any]:
    images = sample_images(load_dataset("fashion-mnist", threads=threads), n, seed=SEED)
    features = reduce_pca(
        pixel_features(images.pixels), n_components=100, seed=SEED, threads=threads
    )
    neighbours: Neighbours = feature_neighbours(
        features, tsne_neighbour_count(n, PERPLEXITY), threads=threads
    )
    engines = ["tsnegrid", "opentsne"] + (["sklearn"] if n <= sklearn_max else [])
    row: dict[str, Any] = {"n": n, "threads": threads, "engines": {}}
    for engine in engines:

        def run(engine: str = engine) -> NDArray[np.float64]:
            return embed_tsne(
                features,
                perplexity=PERPLEXITY,
                seed=SEED,
                engine=engine,
                threads=threads,
                neighbours=neighbours,
            ).points

        seconds, emb = timed(run, repeats)
        kept, accuracy = scores(emb, neighbours.indices, images.labels)
        row["engines"][engine] = {"seconds": seconds, "knn10_kept": kept, "acc5": accuracy}
    ours = row["engines"]["tsnegrid"]["seconds"]
    for result in row["engines"].values():
        result["vs_ours"] = result["seconds"] / ours
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 10_000])
    parser.add_argument("--repeats", type=int, default=3, help="runs per engine (median kept)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--sklearn-max", type=int, default=2500, help="largest N given to scikit-learn (slow)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "tsne.json")
    args = parser.parse_args()
    # Load our compiled kernels first, so the timings are of the runs, not of numba's start.
    embed_tsne(np.random.default_rng(0).random((200, 5)), perplexity=10, seed=0, max_iter=260)
    rows = []
    for n in args.sizes:
        row = bench(n, args.repeats, args.threads, args.sklearn_max)
        rows.append(row)
        for name, r in row["engines"].items():
            print(
                f"N={n:>6,} {name:<9} {r['seconds']:7.2f} s ({r['vs_ours']:5.1f}x ours)  "
                f"10-NN kept {r['knn10_kept']:.4f}  5-NN accuracy {r['acc5']:.4f}",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
