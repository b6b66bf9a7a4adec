"""The run: every stage called in order, each timed.

``run(config)`` is a chain of plain function calls (:mod:`tsnegrid.stages` times and caches
each one: with it, the only place that reads the clock).
It writes nothing but the cache: the report is written by :func:`tsnegrid.report.write_docs`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tsnegrid.config import Config
from tsnegrid.data import (
    fingerprint,
    load_dataset,
    load_features,
    load_image_folder,
    sample_index,
    subset,
)
from tsnegrid.data.mask import read_mask
from tsnegrid.embed import pixel_features
from tsnegrid.plan import plan_layout
from tsnegrid.results import ImageSet, LayoutPlan, RunResult
from tsnegrid.runtime.workers import sample_cpus, single_thread_blas
from tsnegrid.stages import ProgressCallback, StageCallback, Stages, search_of


def run(
    config: Config,
    *,
    on_stage: StageCallback | None = None,
    on_progress: ProgressCallback | None = None,
    on_note: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the whole pipeline for ``config`` and return what it made (writes only the cache).

    BLAS is held to one thread meanwhile. The stages split their matrix products over worker
    threads of their own (PCA, neighbours, DPQ), in blocks fixed whatever the thread count:
    OpenBLAS's threads would change the last bits of PCA with their number (and t-SNE magnifies
    them), and its idle pool spins on the cores the workers need (DPQ took 0.25 s instead of
    0.14 s at 2,500 images). openTSNE and scikit-learn, imported only when chosen, get
    ``config.threads`` as their ``n_jobs``. ``--threads 1`` keeps every stage on one core.
    ``on_note`` hears about adjustments that change how long the run takes but not what it
    makes (t-SNE on fewer threads).
    """
    # numba starts on a thread while the images are read (see _warm_up); waited for at the end,
    # so no thread outlives the run.
    warm = threading.Thread(target=_warm_up, args=(on_note,), name="tsnegrid-numba")
    warm.start()
    try:
        with single_thread_blas():
            return _run(config, on_stage, on_progress, on_note)
    finally:
        warm.join()


def _warm_up(on_note: Callable[[str], None] | None) -> None:
    """Start numba early; in a fresh environment, where numba compiles every kernel once, say
    so (see :mod:`tsnegrid.runtime.kernels`)."""
    from tsnegrid.embed.knn import warm_up
    from tsnegrid.runtime.kernels import uncompiled

    with suppress(Exception):  # only an early start: the stages report any real failure
        if uncompiled() and on_note is not None:
            on_note(FIRST_RUN_NOTE)
        warm_up()


FIRST_RUN_NOTE = (
    "first run in this environment: numba compiles tsnegrid's kernels once (about 20 s on two "
    "idle cores; python -m tsnegrid.runtime.kernels does it ahead); later runs load them in "
    "milliseconds"
)


def _run(
    config: Config,
    on_stage: StageCallback | None,
    on_progress: ProgressCallback | None,
    on_note: Callable[[str], None] | None,
) -> RunResult:
    with _cluster(config) as cluster:
        return _run_stages(Stages(config, on_stage, on_progress, on_note, cluster))


@contextmanager
def _cluster(config: Config) -> Iterator[Any]:
    """``--dask``: one checked client for the whole run (folder decoding, the map's tiles)."""
    if config.dask is None:
        yield None
        return
    from tsnegrid.runtime.cluster import connect

    with connect(config.dask) as client:
        yield client


def _run_stages(stage: Stages) -> RunResult:
    config = stage.config
    with stage.timer.stage("load"):
        everything, images, raw, plan = _load(config, stage.cluster)
    features = stage.pca(raw)
    cpu_start = sample_cpus()  # how busy the machine is, watched while we search
    neighbours = stage.neighbours(features)
    embedding = stage.tsne(features, neighbours, cpu_start)
    assignment = stage.assign(embedding, plan)
    polished = stage.polish(features, assignment, plan)
    final = assignment.node_of_point if polished is None else polished.node_of_point
    quality = stage.quality(
        features,
        embedding,
        final,
        images.labels,
        plan,
        neighbours,
        assigned=None if polished is None else assignment.node_of_point,
    )
    figs = stage.figures(images, features, embedding, assignment, final)
    return RunResult(
        config=config,
        images=images,
        n_available=everything.n_images,
        dataset_sha256=fingerprint(everything),
        plan=plan,
        features=features,
        embedding=embedding,
        assignment=assignment,
        quality=quality,
        figures=figs,
        timings=tuple(stage.timer.timings),
        polished=polished,
        search=search_of(neighbours),
    )


def _load(
    config: Config, cluster: Any
) -> tuple[ImageSet, ImageSet, NDArray[np.floating], LayoutPlan]:
    """Every image of the input, the sample laid out, its raw features, and the grid."""
    mask = None if config.mask is None else read_mask(config.mask)
    if config.images is not None:
        everything = _read_folder(config, cluster)
    else:
        everything = load_dataset(config.dataset, data_dir=config.data_dir, threads=config.threads)
    plan = plan_layout(config, everything.n_images, mask)
    index = sample_index(everything.n_images, plan.n_images, seed=config.seed)
    # Every image, in order: the set itself, not a copy (0.16 s at 70,000 images).
    images = everything if len(index) == everything.n_images else subset(everything, index)
    if config.features is None:
        raw: NDArray[np.floating] = pixel_features(images.pixels, threads=config.threads)
    else:
        raw = load_features(config.features, everything.names)[index]
    return everything, images, raw, plan


def _read_folder(config: Config, cluster: Any) -> ImageSet:
    assert config.images is not None
    if cluster is None:
        return load_image_folder(
            config.images, thumb_px=config.thumb_px, strict=config.strict_input
        )
    from tsnegrid.data.distributed import read_image_folder_dask

    return read_image_folder_dask(
        config.images, cluster, thumb_px=config.thumb_px, strict=config.strict_input
    )
