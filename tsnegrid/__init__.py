"""tsnegrid: lay image collections out on a grid by similarity, and publish the run as a report.

The stages, each usable on its own::

    from tsnegrid import assign_to_grid, embed_tsne, load_dataset, pixel_features, reduce_pca
    images = load_dataset("digits")
    features = reduce_pca(pixel_features(images.pixels), n_components=100, seed=777)
    points = embed_tsne(features, perplexity=30, seed=777).points
    layout = assign_to_grid(points, 42, 43)

``python generate.py`` runs them all and writes the report.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Where each public name lives; imported on first use (PEP 562), so that ``import tsnegrid.config``
# and ``python generate.py --help`` do not pay for numba, scikit-learn and matplotlib.
_HOMES = {
    "SOLVERS": "assign.assignment", "GridAssignment": "assign.assignment", "assign_to_grid": "assign.assignment",
    "Config": "config", "ImageSet": "data.datasets", "load_dataset": "data.datasets",
    "load_image_folder": "data.datasets", "sample_images": "data.datasets", "Embedding": "embed.tsne",
    "embed_tsne": "embed.tsne", "pixel_features": "embed.tsne", "reduce_pca": "embed.tsne",
    "grid_nodes": "assign.grid", "near_square_grid": "assign.grid", "LayoutQuality": "quality.metrics",
    "evaluate_layout": "quality.metrics",
}  # fmt: skip


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'tsnegrid' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tsnegrid.{_HOMES[name]}"), name)


__all__ = [
    "SOLVERS",
    "Config",
    "Embedding",
    "GridAssignment",
    "ImageSet",
    "LayoutQuality",
    "__version__",
    "assign_to_grid",
    "embed_tsne",
    "evaluate_layout",
    "grid_nodes",
    "load_dataset",
    "load_image_folder",
    "near_square_grid",
    "pixel_features",
    "reduce_pca",
    "sample_images",
]
