"""A Dask cluster for one run (``--dask``): connected once, checked, shared by the stages that
use it (decoding an image folder, encoding the map's tiles), closed at the end.

The optional extra ``dask[distributed]`` (``pip install 'tsnegrid[dask]'``) is imported only
inside these functions. Workers must make the same bytes as this machine would: the same
tsnegrid, Pillow and codec versions, checked before any task runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tsnegrid.errors import UsageError

MISSING_EXTRA = (
    "--dask needs the optional dependency dask[distributed]: pip install 'tsnegrid[dask]'"
)


@contextmanager
def connect(address: Any, local_workers: int = 2) -> Iterator[Any]:
    """A checked ``distributed.Client`` of ``address``.

    ``address``: a ``distributed.Client`` (used as it is and left open), a scheduler address
    (``"tcp://host:8786"``) or ``"local"``, a ``LocalCluster`` of ``local_workers``
    single-threaded worker processes on this machine, started here and closed on exit.

    Raises
    ------
    UsageError
        ``dask[distributed]`` is not installed, or a worker's decoders or encoders differ from
        this machine's.
    """
    distributed = import_distributed()
    with _client(distributed, address, local_workers) as client:
        check_workers(client, address)
        yield client


def import_distributed():  # type: ignore[no-untyped-def]
    """The ``distributed`` module, or a UsageError that names the extra to install."""
    try:
        import distributed
    except ImportError:
        raise UsageError(MISSING_EXTRA) from None
    return distributed


@contextmanager
def _client(distributed: Any, address: Any, local_workers: int) -> Iterator[Any]:
    if isinstance(address, distributed.Client):
        yield address
        return
    if address == "local":
        with (
            distributed.LocalCluster(
                n_workers=local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
        return
    with distributed.Client(address) as client:
        yield client


def check_workers(client: Any, address: Any) -> None:
    """Refuse workers whose decoders or encoders could give other pixels or bytes than this
    machine's would."""
    here = _versions_here()
    for worker, theirs in sorted(client.run(codec_versions).items()):
        if tuple(theirs) != here:
            raise UsageError(
                f"--dask {address}: worker {worker} has {_describe(tuple(theirs))}, this machine "
                f"{_describe(here)}; install the same versions on every worker"
            )


def codec_versions() -> tuple[str | None, ...]:
    """Versions of what decides a thumbnail's pixels and a tile's bytes: tsnegrid, Pillow and
    its codecs."""
    from importlib.metadata import version

    import PIL
    from PIL import features

    codecs = tuple(features.version(name) for name in ("zlib", "jpg", "webp", "libtiff"))
    return (version("tsnegrid"), PIL.__version__, *codecs)


#: This machine's side of :func:`check_workers` (the same function, apart for tests).
_versions_here = codec_versions


def _describe(versions: tuple[str | None, ...]) -> str:
    names = ("tsnegrid", "Pillow", "zlib", "libjpeg", "libwebp", "libtiff")
    return ", ".join(f"{name} {v}" for name, v in zip(names, versions, strict=True))
