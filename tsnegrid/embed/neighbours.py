"""Each image's exact nearest neighbours in feature space, found once per run.

t-SNE's affinities and the quality stage's neighbourhoods both start from them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tsnegrid.embed.knn import nearest_others
from tsnegrid.results import Neighbours


def tsne_neighbour_count(n_points: int, perplexity: float) -> int:
    """How many neighbours t-SNE's affinities use: ``3 * perplexity`` (capped as t-SNE caps
    the perplexity), at most ``n - 1``."""
    return min(n_points - 1, int(3 * min(perplexity, max_perplexity(n_points))))


def feature_neighbours(features: NDArray[np.floating], k: int, *, threads: int) -> Neighbours:
    """The exact ``k`` nearest other rows of every row, nearest first, ties by index.

    A brute-force search (:func:`tsnegrid.embed.knn.nearest_others`): the neighbours openTSNE's
    exact mode finds, and distances summed as its k-d tree sums them (bit for bit for up to 15
    features; beyond, its brute-force search may differ in the last bit). The same for any
    ``threads``.
    """
    indices, sq_distances = nearest_others(features, k, threads=threads)
    return Neighbours(indices, np.sqrt(sq_distances))


def max_perplexity(n_points: int) -> float:
    """The largest perplexity t-SNE accepts sensibly for ``n_points`` (``(n - 1) / 3``)."""
    return max(1.0, (n_points - 1) / 3.0)
