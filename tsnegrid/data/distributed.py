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

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tsnegrid.data.folder import _check_folder, _find_images, collect_images, read_one
from tsnegrid.errors import UsageError
from tsnegrid.results import ImageSet

#: Files per task: enough to outweigh a task's overhead (~1 ms), few enough to balance workers.
PARTITION_FILES = 256
MISSING_EXTRA = (
    "--dask needs the optional dependency dask[distributed]: pip install 'tsnegrid[dask]'"
)


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
    distributed = import_distributed()
    root = _check_folder(folder)
    relative = _find_images(root)
    parts = [relative[lo : lo + partition_files] for lo in range(0, len(relative), partition_files)]
    with _client(distributed, address, local_workers) as client:
        _check_workers(client, address)
        futures = client.map(_read_partition, [root] * len(parts), parts, thumb_px=thumb_px,
                             pure=False)
        done = client.gather(futures)
    outcomes = (outcome for part in done for outcome in part)
    return collect_images(root, relative, outcomes, thumb_px=thumb_px, strict=strict)


def import_distributed():  # type: ignore[no-untyped-def]
    """The ``distributed`` module, or a UsageError that names the extra to install."""
    try:
        import distributed
    except ImportError:
        raise UsageError(MISSING_EXTRA) from None
    return distributed


@contextmanager
def _client(distributed: Any, address: Any, local_workers: int) -> Iterator[Any]:
    """A client of ``address`` (a Client is used as it is and left open)."""
    if isinstance(address, distributed.Client):
        yield address
        return
    if address == "local":
        with distributed.LocalCluster(n_workers=local_workers, threads_per_worker=1,
                                      processes=True, dashboard_address=":0",
                                      silence_logs=logging.ERROR) as cluster,\
                distributed.Client(cluster) as client:
            yield client
        return
    with distributed.Client(address) as client:
        yield client


def _check_workers(client: Any, address: Any) -> None:
    """Refuse workers whose decoders could give other pixels than this machine's would."""
    here = _versions_here()
    for worker, theirs in sorted(client.run(_decoder_versions).items()):
        if tuple(theirs) != here:
            raise UsageError(
                f"--dask {address}: worker {worker} has {_describe(tuple(theirs))}, this machine "
                f"{_describe(here)}; install the same versions on every worker"
            )


def _decoder_versions() -> tuple[str | None, ...]:
    """Versions of what decides a thumbnail's pixels: tsnegrid, Pillow and its codecs."""
    from importlib.metadata import version

    import PIL
    from PIL import features

    codecs = tuple(features.version(name) for name in ("zlib", "jpg", "webp", "libtiff"))
    return (version("tsnegrid"), PIL.__version__, *codecs)


#: This machine's side of :func:`_check_workers` (the same function, apart for tests).
_versions_here = _decoder_versions


def _describe(versions: tuple[str | None, ...]) -> str:
    names = ("tsnegrid", "Pillow", "zlib", "libjpeg", "libwebp", "libtiff")
    return ", ".join(f"{name} {v}" for name, v in zip(names, versions, strict=True))


def _read_partition(
    root: Path, names: list[str], *, thumb_px: int
) -> list[NDArray[np.uint8] | str]:
    """One task: each file's thumbnail or the reason it cannot be read, in order."""
    return [read_one(root, name, thumb_px) for name in names]
