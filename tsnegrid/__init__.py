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

__version__ = "0.1.0"

from tsnegrid.assignment import SOLVERS, GridAssignment, assign_to_grid
from tsnegrid.config import Config
from tsnegrid.datasets import ImageSet, load_dataset, load_image_folder, sample_images
from tsnegrid.embedding import Embedding, embed_tsne, pixel_features, reduce_pca
from tsnegrid.grid import grid_nodes, near_square_grid
from tsnegrid.metrics import LayoutQuality, evaluate_layout

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
