"""Figures and the zoomable map as file bytes: the run's last stage, before the report is written.

Everything here is pure (figures and arrays in, :class:`Artifact` bytes out) and deterministic:
equal input gives equal bytes whatever the thread count. Pillow releases the GIL while it
encodes, so the map's PNG and its Deep Zoom tiles can be encoded on worker threads while
matplotlib draws the figures on the calling thread.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray
from PIL import Image

from tsnegrid.report.tiles import (
    PNG_COMPRESS_LEVEL,
    TileJob,
    cell_layout_files,
    encode_tile,
    iter_tile_jobs,
)
from tsnegrid.results import Artifact
from tsnegrid.runtime.workers import submit

#: A page figure should load quickly: above this a photo-like image is saved as JPEG.
PAGE_FIGURE_BYTES = 500_000
TILE_BATCH = 64  # Deep Zoom tiles encoded per task
#: Above this many pixels the map is not saved as one picture (``img/map-full-*.png``): image
#: viewers and browsers struggle with it and it takes minutes to encode; the tiles show it.
FULL_MAP_MAX_PIXELS = 100_000_000


def has_full_map(height: int, width: int) -> bool:
    """Whether a map of ``height`` x ``width`` pixels is also saved as one picture."""
    return height * width <= FULL_MAP_MAX_PIXELS


Drawable = Figure | NDArray[np.uint8]


@dataclass(frozen=True)
class NamedFigure:
    """A figure and the stable name its file is saved under (``img/<key>-<hash>.png``).

    ``figure`` may be a function that makes it: :func:`encode_figures` calls it once the map's
    encoding is under way, so that making the figures overlaps with it.
    """

    key: str
    figure: Drawable | Callable[[], Drawable]

    def made(self) -> Drawable:
        return self.figure() if callable(self.figure) else self.figure


def figure_png(figure: Figure | NDArray[np.uint8]) -> bytes:
    """PNG bytes of a figure or image array, with no timestamps: equal input, equal bytes."""
    return _encode_png(draw(figure))


def draw(figure: Figure | NDArray[np.uint8]) -> Image.Image | NDArray[np.uint8]:
    """A figure drawn to raw pixels (matplotlib's part, which holds the GIL); an image array as
    it is."""
    if not isinstance(figure, Figure):
        return figure
    # Raw pixels straight from Agg: no PNG round trip before the palette is chosen.
    raw = io.BytesIO()
    figure.savefig(raw, format="rgba")
    size = figure.canvas.get_width_height(physical=True)
    return Image.frombuffer("RGBA", size, raw.getvalue(), "raw", "RGBA", 0, 1)


def _encode_png(pixels: Image.Image | NDArray[np.uint8]) -> bytes:
    """PNG bytes of :func:`draw`'s output (Pillow's part: it releases the GIL)."""
    if isinstance(pixels, Image.Image):
        # Opaque, 256-colour PNG: plots have few colours, and this keeps them ~3x smaller.
        image = pixels.convert("RGB").quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    else:
        image = Image.fromarray(pixels)
    buf = io.BytesIO()
    # zlib level 6: within 2% of level 9 (optimize=True) in size, 6x faster on these images.
    image.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def hashed_name(stem: str, data: bytes, suffix: str = ".png") -> str:
    """``img/<stem>-<8 hex>.png``: content-hashed so a browser never shows a stale figure."""
    return f"img/{stem}-{hashlib.sha256(data).hexdigest()[:8]}{suffix}"


def figure_artifact(key: str, figure: Figure | NDArray[np.uint8]) -> Artifact:
    """A page figure as PNG, or as JPEG when it is a photo-like image too big for the page."""
    return _encoded_artifact(key, draw(figure))


def _encoded_artifact(key: str, pixels: Image.Image | NDArray[np.uint8]) -> Artifact:
    data = _encode_png(pixels)
    if len(data) > PAGE_FIGURE_BYTES and not isinstance(pixels, Image.Image):
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="JPEG", quality=88)
        return Artifact(hashed_name(key, buf.getvalue(), ".jpg"), buf.getvalue())
    return Artifact(hashed_name(key, data), data)


@dataclass(frozen=True)
class MapCells:
    """What the viewer's ``cells.json`` needs besides the mosaic: who sits in which cell."""

    names: Sequence[str]
    labels: NDArray[np.int64]
    class_names: Sequence[str]
    node_of_point: NDArray[np.intp]
    rows: int
    cols: int


def map_artifacts(
    mosaic: NDArray[np.uint8], cells: MapCells, *, pool: ThreadPoolExecutor | None = None
) -> list[Artifact]:
    """The full-size map (``img/map-full-*.png``, up to :data:`FULL_MAP_MAX_PIXELS`), its Deep
    Zoom tiles and the viewer's cell layout (``tiles/cells.json`` and its parts).

    With a ``pool``, the PNG and the tiles are encoded on its threads; the bytes are the same.
    """
    pending = _PendingMap.start(mosaic, pool)
    return pending.finish(cells, lambda: None)


def encode_figures(
    figures: Sequence[NamedFigure],
    mosaic: NDArray[np.uint8],
    cells: MapCells,
    *,
    pool: ThreadPoolExecutor | None = None,
    progress: Callable[[float], None] | None = None,
    cluster: Any = None,
) -> tuple[Artifact, ...]:
    """Every figure's file, then the map's files (:func:`map_artifacts`).

    With a ``pool`` the map's encoding starts first, on its worker threads, and each figure is
    made and drawn here meanwhile, then encoded there too; without one, everything runs on the
    calling thread. The bytes are the same. With a ``cluster`` (a checked
    ``distributed.Client``, see :mod:`tsnegrid.runtime.cluster`) the Deep Zoom tiles are
    encoded there, a batch a task. ``progress`` gets the fraction of figures and tile batches
    done.
    """
    pending = _PendingMap.start(mosaic, pool, cluster)
    units, done = len(figures) + len(pending.batches) + 1, 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done / units)

    encoding = [submit(pool, _encoded_artifact, f.key, draw(f.made())) for f in figures]
    drawn = []
    for job in encoding:
        drawn.append(job.result())
        step()
    return (*drawn, *pending.finish(cells, step))


@dataclass(frozen=True)
class _PendingMap:
    """The map's PNG and tile batches, submitted for encoding."""

    full_png: Future[bytes] | None  # None above FULL_MAP_MAX_PIXELS
    batches: list[tuple[list[str], Future[list[bytes]]]]
    mosaic_shape: tuple[int, int]

    @classmethod
    def start(
        cls, mosaic: NDArray[np.uint8], pool: ThreadPoolExecutor | None, cluster: Any = None
    ) -> _PendingMap:
        # The full map's PNG first: one long task (2.7 s at 70,000 images), which the tiles'
        # many short ones then fill in around instead of leaving it last, on one thread.
        full = submit(pool, figure_png, mosaic) if has_full_map(*mosaic.shape[:2]) else None
        batches = [
            (
                paths,
                submit(pool, _encode_all, jobs)
                if cluster is None
                else cluster.submit(_encode_payloads, [_payload(j) for j in jobs], pure=False),
            )
            for paths, jobs in _batched(iter_tile_jobs(mosaic))
        ]
        return cls(full, batches, mosaic.shape[:2])

    def finish(self, cells: MapCells, step: Callable[[], None]) -> list[Artifact]:
        """Wait for every file (calling ``step`` after each batch) and add the cell layout."""
        tiles: list[Artifact] = []
        digest = hashlib.sha256()
        for paths, job in self.batches:
            for path, data in zip(paths, job.result(), strict=True):
                tiles.append(Artifact(f"tiles/{path}", data))
                digest.update(data)
            step()
        c = cells
        cell_px = (self.mosaic_shape[0] // c.rows, self.mosaic_shape[1] // c.cols)
        layout = cell_layout_files(
            c.names,
            c.labels,
            c.class_names,
            c.node_of_point,
            c.rows,
            c.cols,
            cell_px,
            version=digest.hexdigest()[:12],
        )
        whole = []
        if self.full_png is not None:
            full = self.full_png.result()
            whole.append(Artifact(hashed_name("map-full", full), full))
        step()
        return [*whole, *tiles, *(Artifact(f"tiles/{path}", data) for path, data in layout)]


def _batched(
    items: Iterable[tuple[str, Callable[[], bytes]]],
) -> Iterable[tuple[list[str], list[Callable[[], bytes]]]]:
    paths: list[str] = []
    jobs: list[Callable[[], bytes]] = []
    for path, job in items:
        paths.append(path)
        jobs.append(job)
        if len(jobs) == TILE_BATCH:
            yield paths, jobs
            paths, jobs = [], []
    if jobs:
        yield paths, jobs


def _encode_all(jobs: list[Callable[[], bytes]]) -> list[bytes]:
    return [job() for job in jobs]


Payload = tuple[NDArray[np.uint8], str] | bytes


def _payload(job: Callable[[], bytes]) -> Payload:
    """What a Dask task needs to make a file: a tile's pixels and format (not its whole level),
    or the bytes themselves (the descriptor)."""
    return (job.pixels(), job.fmt) if isinstance(job, TileJob) else job()


def _encode_payloads(payloads: list[Payload]) -> list[bytes]:
    """One Dask task: the bytes of a batch of files."""
    return [p if isinstance(p, bytes) else encode_tile(*p) for p in payloads]
