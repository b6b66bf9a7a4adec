"""Reading an image folder as Dask tasks, on a cluster or on this machine's worker processes.

The optional extra ``dask[distributed]`` (``pip install 'tsnegrid[dask]'``) is imported only
inside these functions. The folder is listed here (the files must be at the same path on every
worker: a shared file system), the files are cut into partitions of consecutive names, and each
partition is one task that decodes and thumbnails its files with the very function the
one-machine reader uses (:func:`tsnegrid.data.folder.read_one`). The outcomes are gathered in
order and put together by :func:`tsnegrid.data.folder.collect_images`, so the ImageSet is the
one :func:`tsnegrid.data.folder.read_image_folder` returns: the same order, pixels, labels,
skipped files and messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tsnegrid.data.folder import _check_folder, _find_images, collect_images, read_one
from tsnegrid.errors import UsageError
from tsnegrid.results import ImageSet
from tsnegrid.runtime.cluster import connect, import_distributed

#: Files per task: enough to outweigh a task's overhead (~1 ms), few enough to balance workers.
PARTITION_FILES = 256


def read_image_folder_dask(
    folder: Path,
    address: Any,
    *,
    thumb_px: int = 32,
    strict: bool = False,
    local_workers: int = 2,
    partition_files: int = PARTITION_FILES,
) -> ImageSet:
    """Read ``folder`` as :func:`tsnegrid.data.folder.read_image_folder` does, as Dask tasks.

    Parameters
    ----------
    folder : the image folder; the same path must hold the same files on every worker.
    address : a ``distributed.Client``, a scheduler address (``"tcp://host:8786"``) or
        ``"local"``: a ``LocalCluster`` of ``local_workers`` single-threaded worker processes on
        this machine, started and closed here.
    thumb_px, strict : as :func:`tsnegrid.data.folder.read_image_folder`.
    local_workers : worker processes of the ``"local"`` cluster.
    partition_files : files per task.

    Returns
    -------
    ImageSet
        The one :func:`tsnegrid.data.folder.read_image_folder` returns. The thumbnails come back
        as uint8; flattening them to float32 features (four times the bytes) stays with the
        caller, where it costs less than shipping them.

    Raises
    ------
    UsageError
        ``dask[distributed]`` is not installed, or ``thumb_px`` is below 4.
    InputError
        As :func:`tsnegrid.data.folder.read_image_folder`.
    """
    if thumb_px < 4:
        raise UsageError(f"thumbnail size {thumb_px} px is too small; use at least 4")
    import_distributed()  # the missing extra is named before anything else is looked at
    root = _check_folder(folder)
    relative = _find_images(root)
    parts = [relative[lo : lo + partition_files] for lo in range(0, len(relative), partition_files)]
    with connect(address, local_workers) as client:
        futures = client.map(
            _read_partition, [root] * len(parts), parts, thumb_px=thumb_px, pure=False
        )
        done = client.gather(futures)
    outcomes = (outcome for part in done for outcome in part)
    return collect_images(root, relative, outcomes, thumb_px=thumb_px, strict=strict)


def _read_partition(
    root: Path, names: list[str], *, thumb_px: int
) -> list[NDArray[np.uint8] | str]:
    """One task: each file's thumbnail or the reason it cannot be read, in order."""
    return [read_one(root, name, thumb_px) for name in names]
