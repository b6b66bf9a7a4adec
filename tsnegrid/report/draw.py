"""The figures stage: every figure of the report and the zoomable map, drawn and encoded.

Pure: images and results in, :class:`~tsnegrid.results.Artifact` bytes out (see
:func:`tsnegrid.report.encode.encode_figures`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from tsnegrid.quality.figures import plot_displacement_map, plot_seams
from tsnegrid.report import figures
from tsnegrid.report.encode import MapCells, NamedFigure, encode_figures
from tsnegrid.report.mosaic import compose_mosaic, mosaic_preview
from tsnegrid.results import Artifact, Embedding, GridAssignment, ImageSet, Progress
from tsnegrid.runtime.workers import worker_pool


def draw_figures(
    images: ImageSet,
    features: NDArray[np.float64],
    embedding: Embedding,
    assignment: GridAssignment,
    final: NDArray[np.intp],
    *,
    threads: int,
    progress: Progress | None = None,
    cluster: Any = None,
) -> tuple[Artifact, ...]:
    """Draw every figure of the notebook and the quality page, and make the map's files.

    Parameters
    ----------
    images : the laid-out images, (n, h, w[, 3]) pixels.
    features : (n, d) the features the quality figures measure seams in.
    embedding : (n, 2) t-SNE points in the unit square.
    assignment : the t-SNE + LAP cell of every image (the arrows figure).
    final : (n,) the cell of every image on the final map (polished, or the assignment's).
    threads : worker threads that paint the map and encode the files (the figures are made
        and drawn here meanwhile); the bytes are the same for any count.
    progress : called with the fraction done.
    cluster : a checked ``distributed.Client`` that encodes the map's tiles (same bytes).
    """
    pts, labels, names = embedding.points, images.labels, images.class_names
    nodes, rows, cols = assignment.node_of_point, assignment.rows, assignment.cols
    px = images.pixels
    with worker_pool(threads) as pool:
        mosaic = compose_mosaic(px, final, rows, cols, pool=pool)
        # Made one at a time while the map is encoded on the pool's threads.
        figs = [
            NamedFigure("samples", lambda: figures.plot_samples(px, labels, names)),
            NamedFigure("scatter", lambda: figures.plot_scatter(pts, labels, names)),
            NamedFigure("overlay", lambda: figures.plot_overlay(pts, px)),
            NamedFigure("grid", lambda: figures.plot_grid(rows, cols)),
            NamedFigure(
                "arrows", lambda: figures.plot_arrows(pts, nodes, rows, cols, labels, len(names))
            ),
            NamedFigure("map", lambda: mosaic_preview(mosaic)),
            NamedFigure("displacement", lambda: plot_displacement_map(pts, final, rows, cols)),
            NamedFigure("seams", lambda: plot_seams(features, final, rows, cols)),
        ]
        if not np.array_equal(final, nodes):  # polished: the seams before, beside the seams after
            figs.append(NamedFigure("seams-lap", lambda: plot_seams(features, nodes, rows, cols)))
        cells = MapCells(images.names, labels, names, final, rows, cols)
        return encode_figures(figs, mosaic, cells, pool=pool, progress=progress, cluster=cluster)
