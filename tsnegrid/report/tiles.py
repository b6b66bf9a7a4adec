"""The zoomable final map: a Deep Zoom (DZI) image pyramid and the cell layout the viewer reads.

Both functions are pure: they return ``(relative path, bytes)`` pairs and bytes, and
``report.write_docs`` writes them. The pyramid follows the Deep Zoom spec that OpenSeadragon
reads: level ``L`` of ``0..max_level`` (``max_level = ceil(log2(max(width, height)))``) is the
image scaled by ``2**(L - max_level)`` and rounded up, so level 0 is 1 x 1; each level is cut into
``tile_px`` squares that overlap their neighbours by ``overlap`` pixels on every inner edge, saved
as ``map_files/<level>/<col>_<row>.<fmt>``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.colors import to_hex
from numpy.typing import NDArray
from PIL import Image

from tsnegrid.report.figures import UNKNOWN_COLOR, class_palette

PNG_COMPRESS_LEVEL = 6  # zlib level of every PNG of the report (tiles included)
CELLS_SCHEMA = "tsnegrid.cells"
SCHEMA_VERSION = 2  # 2: the cells in part files of whole rows (1: all in cells.json)
#: Bytes per part file of the viewer's cell layout (whole rows; a part holds at least one): the
#: map page loads only the parts the pointer visits, where a million names in one file would
#: be ~30 MB before the first hover.
PART_BYTES = 500_000
_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG"}
_DZI_NS = "http://schemas.microsoft.com/deepzoom/2008"


def max_level(width: int, height: int) -> int:
    """The top level of the pyramid: ``ceil(log2(max(width, height)))`` (0 for a 1 x 1 image)."""
    return (max(width, height) - 1).bit_length()


def level_size(width: int, height: int, level: int) -> tuple[int, int]:
    """(width, height) of ``level``: the full size over ``2**(max_level - level)``, rounded up."""
    shift = max_level(width, height) - level
    return -(-width >> shift), -(-height >> shift)


def tile_boxes(
    width: int, height: int, *, tile_px: int, overlap: int
) -> Iterator[tuple[int, int, tuple[int, int, int, int]]]:
    """``(col, row, (left, upper, right, lower))`` of every tile of a ``width`` x ``height`` level.

    A tile covers its ``tile_px`` square plus ``overlap`` pixels into each neighbour that exists.
    """
    for row in range(-(-height // tile_px)):
        for col in range(-(-width // tile_px)):
            left, upper = col * tile_px, row * tile_px
            box = (
                max(left - overlap, 0),
                max(upper - overlap, 0),
                min(left + tile_px + overlap, width),
                min(upper + tile_px + overlap, height),
            )
            yield col, row, box


def dzi_xml(width: int, height: int, *, tile_px: int, overlap: int, fmt: str) -> bytes:
    """The ``.dzi`` descriptor of a pyramid."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Image xmlns="{_DZI_NS}" Format="{fmt}" Overlap="{overlap}" TileSize="{tile_px}">\n'
        f'  <Size Width="{width}" Height="{height}"/>\n'
        "</Image>\n"
    ).encode()


def iter_deep_zoom(
    mosaic: NDArray[np.uint8],
    *,
    tile_px: int = 256,
    overlap: int = 1,
    fmt: str = "png",
    name: str = "map",
) -> Iterator[tuple[str, bytes]]:
    """Yield the descriptor, then the tiles from the top level down, one level in memory at a time.

    Parameters
    ----------
    mosaic : (height, width) uint8 grayscale (kept as one channel) or (height, width, 3|4) colour.
    tile_px : side of a tile without its overlap, in pixels.
    overlap : pixels each tile shares with each neighbour.
    fmt : ``"png"`` (lossless) or ``"jpg"``.
    name : the stem of the descriptor (``<name>.dzi``) and of the tile folder (``<name>_files``).
    """
    for path, encode in iter_tile_jobs(
        mosaic, tile_px=tile_px, overlap=overlap, fmt=fmt, name=name
    ):
        yield path, encode()


@dataclass(frozen=True)
class TileJob:
    """One tile to encode: a box of one level of the pyramid. Calling it gives the tile's bytes;
    :meth:`pixels` gives the pixels alone, for :func:`encode_tile` elsewhere (a Dask worker),
    which makes the same bytes."""

    level: Image.Image
    box: tuple[int, int, int, int]
    fmt: str

    def __call__(self) -> bytes:
        return _encode(self.level, self.box, self.fmt)

    def pixels(self) -> NDArray[np.uint8]:
        return np.asarray(self.level.crop(self.box))


def encode_tile(pixels: NDArray[np.uint8], fmt: str) -> bytes:
    """A tile's bytes from its pixels (what :class:`TileJob` makes from its level and box)."""
    height, width = pixels.shape[:2]
    return _encode(Image.fromarray(pixels), (0, 0, width, height), fmt)


def iter_tile_jobs(
    mosaic: NDArray[np.uint8],
    *,
    tile_px: int = 256,
    overlap: int = 1,
    fmt: str = "png",
    name: str = "map",
) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """Like :func:`iter_deep_zoom`, but each file comes as a call that makes its bytes, so that
    the tiles can be encoded on several threads (Pillow releases the GIL while it encodes): the
    descriptor first, then a :class:`TileJob` per tile.

    A pending call keeps its level alive: all levels together are at most 4/3 of the mosaic.
    """
    if fmt not in _FORMATS:
        raise ValueError(f"fmt {fmt!r}: choose one of {sorted(_FORMATS)}")
    if tile_px < 1 or overlap < 0:
        raise ValueError(f"tile_px {tile_px}, overlap {overlap}: need tile_px >= 1, overlap >= 0")
    if mosaic.ndim not in (2, 3) or 0 in mosaic.shape[:2]:
        raise ValueError(f"mosaic of shape {mosaic.shape}: expected a non-empty 2-D image")
    height, width = mosaic.shape[:2]
    dzi = dzi_xml(width, height, tile_px=tile_px, overlap=overlap, fmt=fmt)
    yield f"{name}.dzi", lambda: dzi
    image = Image.fromarray(np.ascontiguousarray(mosaic))
    for level in range(max_level(width, height), -1, -1):
        size = level_size(width, height, level)
        if image.size != size:
            # Halving the previous level equals scaling the original: ceil(ceil(w/2)/2) = ceil(w/4).
            image = image.resize(size, Image.Resampling.BOX)
        for col, row, box in tile_boxes(*size, tile_px=tile_px, overlap=overlap):
            yield f"{name}_files/{level}/{col}_{row}.{fmt}", TileJob(image, box, fmt)


def deep_zoom(
    mosaic: NDArray[np.uint8], *, tile_px: int = 256, overlap: int = 1, fmt: str = "png"
) -> list[tuple[str, bytes]]:
    """The whole Deep Zoom pyramid of ``mosaic``: ``("map.dzi", xml)`` then every tile.

    Equal input gives equal bytes (no timestamps in the files). See :func:`iter_deep_zoom`.
    """
    return list(iter_deep_zoom(mosaic, tile_px=tile_px, overlap=overlap, fmt=fmt))


def _encode(level: Image.Image, box: tuple[int, int, int, int], fmt: str) -> bytes:
    tile, pil_format = level.crop(box), _FORMATS[fmt]
    buf = io.BytesIO()
    if pil_format == "JPEG":
        rgb_or_l = tile if tile.mode in ("L", "RGB") else tile.convert("RGB")
        rgb_or_l.save(buf, format="JPEG", quality=90)
    else:
        tile.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def cell_layout_files(
    names: Sequence[str],
    labels: NDArray[np.int64],
    class_names: Sequence[str],
    node_of_point: NDArray[np.intp],
    rows: int,
    cols: int,
    tile_px_per_cell: int | tuple[int, int],
    *,
    version: str = "",
    part_bytes: int | None = None,
) -> list[tuple[str, bytes]]:
    """The layout the map viewer reads to turn a map pixel into a cell and its image.

    Parameters
    ----------
    names, labels : (n_points,) image names and class indices (-1: no class).
    class_names : the name of each class index.
    node_of_point : (n_points,) grid node ``r*cols + c`` of each image (grid row 0 at the bottom).
    rows, cols : the grid.
    tile_px_per_cell : map pixels per cell, one side or (height, width).
    version : a content hash; the viewer appends it to tile URLs so browsers never mix runs.
    part_bytes : the most bytes of a part file (:data:`PART_BYTES` when None), unless one row
        alone is larger.

    Returns
    -------
    ``("cells.json", bytes)``, then ``("cells/<k>.json", bytes)`` for each block of consecutive
    *image* rows (counted from the top of the map, so image row ``i`` is grid row
    ``rows - 1 - i``), all compact UTF-8 JSON. ``cells.json`` holds the grid, the map's size
    (cell ``(i, j)`` covers map pixels ``[j*cell_width, (j+1)*cell_width)`` by
    ``[i*cell_height, (i+1)*cell_height)``), the classes with their legend colours and counts,
    and ``part_rows``, the first image row of each part; part ``k`` holds ``first_row`` and
    ``cells``: for each cell of its rows, row by row, ``[index, name, label]`` of its image or
    null where it is empty. The viewer fetches a part the first time the pointer visits one of
    its rows, so a map page never loads every name of a large collection.
    """
    cell_h, cell_w = (
        (tile_px_per_cell, tile_px_per_cell)
        if isinstance(tile_px_per_cell, int)
        else tile_px_per_cell
    )
    point_of_node = np.full(rows * cols, -1, dtype=np.intp)
    point_of_node[node_of_point] = np.arange(len(node_of_point))
    image_rows = point_of_node.reshape(rows, cols)[::-1].tolist()
    labels_list = [int(k) for k in labels]
    palette = class_palette(len(class_names))
    counts = np.bincount(labels[labels >= 0], minlength=len(class_names))
    head = {
        "schema": CELLS_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "version": version,
        "rows": rows,
        "cols": cols,
        "cell_width": int(cell_w),
        "cell_height": int(cell_h),
        "width": cols * int(cell_w),
        "height": rows * int(cell_h),
        "n_images": len(names),
        "class_names": list(class_names),
        "colors": [to_hex(palette(k)) for k in range(len(class_names))],
        "counts": [int(c) for c in counts[: len(class_names)]],
        "unknown_color": to_hex(UNKNOWN_COLOR),
    }
    row_texts = [
        _compact([None if p < 0 else [p, names[p], labels_list[p]] for p in row])[1:-1]
        for row in image_rows
    ]
    parts = _parts(row_texts, PART_BYTES if part_bytes is None else part_bytes)
    head["part_rows"] = [first for first, _ in parts]
    files = [("cells.json", _compact(head))]
    for k, (first, texts) in enumerate(parts):
        body = _PART_FORMAT % (first, b",".join(texts))
        files.append((f"cells/{k}.json", body))
    return files


def _parts(row_texts: list[bytes], most: int) -> list[tuple[int, list[bytes]]]:
    """Consecutive rows in parts of at most ``most`` bytes (at least one row each)."""
    parts: list[tuple[int, list[bytes]]] = []
    size = 0
    for i, text in enumerate(row_texts):
        if not parts or size + 1 + len(text) > most:  # 1: the comma between rows
            parts.append((i, []))
            size = len(_PART_FORMAT % (i, b"")) - 1  # the frame, less the first row's comma
        parts[-1][1].append(text)
        size += 1 + len(text)
    return parts


_PART_FORMAT = b'{"first_row":%d,"cells":[%s]}'


def _compact(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
