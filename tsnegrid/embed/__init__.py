"""Stage 2, the embedding: PCA, the exact neighbours, and t-SNE with one of three engines.

``reduce_pca`` -> ``feature_neighbours`` -> ``embed_tsne``; ``bhtsne``/``quadtree`` are our own
engine, ``knn`` the exact neighbour search. To add an engine: a function in :mod:`.tsne` beside
``_own_tsne``, its name in :data:`tsnegrid.config.TsneEngine` and in ``DEFAULT_ITER``.
"""

from tsnegrid.embed.neighbours import feature_neighbours, tsne_neighbour_count
from tsnegrid.embed.pca import pixel_features, reduce_pca
from tsnegrid.embed.tsne import embed_tsne

__all__ = [
    "embed_tsne",
    "feature_neighbours",
    "pixel_features",
    "reduce_pca",
    "tsne_neighbour_count",
]
