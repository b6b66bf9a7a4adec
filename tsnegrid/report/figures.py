"""The notebook's figures, built as objects.

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` (never pyplot: no global
state) and every ``compose_*`` function returns an image array; nothing here writes a file.
``report.write_docs`` saves them.

Orientation: node (r, c) sits at (x, y) = (c/(cols-1), r/(rows-1)) with y pointing up, as in the
scatter plots, so the mosaic puts grid row 0 at the *bottom* of the image: the final map looks
like the t-SNE figures it comes from.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from numpy.typing import NDArray
from PIL import Image

from tsnegrid.assign.grid import grid_nodes

UNKNOWN_COLOR = (0.6, 0.6, 0.6, 1.0)
#: Above this many items, the overlay figure draws an evenly spaced subsample.
MAX_DRAWN = 20_000
#: Arrows cover more of the figure than images do: fewer stay legible (and the PNG small).
MAX_ARROWS = 8_000
#: The sample sheet shows at most this many classes (the first, by class index), one row each.
MAX_SAMPLE_CLASSES = 40


def class_palette(n_classes: int) -> ListedColormap:
    """A qualitative colormap with one colour per class (tab10, tab20, then hsv)."""
    from matplotlib import colormaps

    if n_classes <= 20:
        base = colormaps["tab10" if n_classes <= 10 else "tab20"]
        colors = base(np.arange(max(n_classes, 1)))
    else:
        colors = colormaps["hsv"](np.linspace(0, 1, n_classes, endpoint=False))
    return ListedColormap(colors, name="classes")


def label_colors(labels: NDArray[np.int64], n_classes: int) -> NDArray[np.float64]:
    """RGBA colour per item: its class colour, grey where the label is unknown (-1)."""
    cmap = class_palette(n_classes)
    out = np.tile(np.asarray(UNKNOWN_COLOR), (len(labels), 1))
    known = labels >= 0
    out[known] = cmap(labels[known])
    return out


def plot_scatter(
    points: NDArray[np.float64], labels: NDArray[np.int64], class_names: tuple[str, ...]
) -> Figure:
    """Figure 1: the t-SNE embedding, one dot per image, coloured by class, with a colorbar."""
    fig, ax = _square_figure(f"t-SNE embedding of {len(points):,} images")
    size = _dot_size(len(points))
    if class_names:
        cmap = class_palette(len(class_names))
        norm = BoundaryNorm(np.arange(len(class_names) + 1) - 0.5, cmap.N)
        known = labels >= 0
        sc = ax.scatter(
            points[known, 0], points[known, 1], c=labels[known], cmap=cmap, norm=norm, s=size, lw=0
        )
        ax.scatter(points[~known, 0], points[~known, 1], color=UNKNOWN_COLOR, s=size, lw=0)
        bar = fig.colorbar(sc, ax=ax, ticks=np.arange(len(class_names)), fraction=0.046, pad=0.02)
        bar.ax.set_yticklabels(list(class_names))
    else:
        ax.scatter(points[:, 0], points[:, 1], color="tab:blue", s=size, lw=0)
    return fig


def plot_overlay(
    points: NDArray[np.float64], pixels: NDArray[np.uint8], *, canvas_px: int = 1600
) -> Figure:
    """Figure 2: every image drawn at its t-SNE position on black.

    Grayscale images are drawn white-on-transparent (their dark background lets the images
    underneath show through); colour images are opaque. Above ``MAX_DRAWN`` images an evenly
    spaced subsample is drawn and the title says so.
    """
    idx = _subsample(len(points))
    canvas = compose_overlay(points[idx], pixels[idx], canvas_px=canvas_px)
    title = f"{len(idx):,} images at their t-SNE positions{_subsample_note(len(points), idx)}"
    fig, ax = _square_figure(title, facecolor="black")
    ax.imshow(
        canvas,
        cmap="gray" if canvas.ndim == 2 else None,
        extent=(0, 1, 0, 1),
        vmin=0,
        vmax=255,
        interpolation="antialiased",
    )
    ax.set_facecolor("black")
    ax.title.set_color("white")
    ax.set_axis_off()
    return fig


def compose_overlay(
    points: NDArray[np.float64], pixels: NDArray[np.uint8], *, canvas_px: int
) -> NDArray[np.uint8]:
    """Paste each image into a black canvas centred on its position (y up).

    Returns
    -------
    (canvas_px, canvas_px) uint8 for grayscale images, (canvas_px, canvas_px, 3) for colour.
    """
    n = len(points)
    tile = _overlay_tile_px(n, pixels.shape[1], canvas_px)
    tiles = resize_tiles(pixels, tile)
    canvas = np.zeros((canvas_px, canvas_px, *pixels.shape[3:]), dtype=np.uint8)
    span = canvas_px - tile
    cols = np.rint(points[:, 0] * span).astype(np.intp)
    rows = np.rint((1.0 - points[:, 1]) * span).astype(np.intp)
    gray = pixels.ndim == 3
    for r, c, t in zip(rows, cols, tiles, strict=True):
        window = canvas[r : r + tile, c : c + tile]
        # Grayscale: "lighten" blending is alpha = intensity over black, so overlaps stay legible.
        window[...] = np.maximum(window, t) if gray else t
    return canvas


def plot_grid(rows: int, cols: int) -> Figure:
    """Figure 3: the grid nodes the images are assigned to."""
    fig, ax = _square_figure(f"{rows} x {cols} grid: {rows * cols:,} nodes")
    nodes = grid_nodes(rows, cols)
    ax.scatter(nodes[:, 0], nodes[:, 1], s=_dot_size(rows * cols), color="black", lw=0)
    return fig


def plot_arrows(
    points: NDArray[np.float64],
    node_of_point: NDArray[np.intp],
    rows: int,
    cols: int,
    labels: NDArray[np.int64],
    n_classes: int,
) -> Figure:
    """Figure 4: an arrow from each image's t-SNE position to its grid node, coloured by class.

    Above ``MAX_ARROWS`` images an evenly spaced subsample is drawn and the title says so.
    """
    idx = _subsample(len(points), MAX_ARROWS)
    start = points[idx]
    end = grid_nodes(rows, cols)[node_of_point[idx]]
    title = (
        f"{len(idx):,} moves from t-SNE position to grid cell{_subsample_note(len(points), idx)}"
    )
    fig, ax = _square_figure(title)
    delta = end - start
    ax.quiver(
        start[:, 0],
        start[:, 1],
        delta[:, 0],
        delta[:, 1],
        color=label_colors(labels[idx], n_classes),
        angles="xy",
        scale_units="xy",
        scale=1,
        width=_arrow_width(len(idx)),
        headwidth=3,
        headlength=4,
        headaxislength=3.5,
    )
    return fig


def plot_samples(
    pixels: NDArray[np.uint8],
    labels: NDArray[np.int64],
    class_names: tuple[str, ...],
    *,
    per_class: int = 8,
) -> Figure:
    """A sample of the images: one row per class (or one block when there are no labels), for
    the first :data:`MAX_SAMPLE_CLASSES` classes.

    The rows are composed into one image (one ``imshow``, labelled by class on the y axis), so
    the figure costs the same for 3 classes or 100.
    """
    groups = _sample_groups(labels, class_names, per_class)
    sheet = compose_sheet(pixels, [members for _, members in groups], per_class)
    h = pixels.shape[1] + _SHEET_GAP
    fig = Figure(figsize=(per_class * 0.8 + 1.6, len(groups) * 0.8 + 0.3), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(
        sheet, cmap="gray" if sheet.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest"
    )
    ax.set_xticks([])
    ax.set_yticks(
        [r * h + pixels.shape[1] / 2 for r in range(len(groups))],
        [name for name, _ in groups],
        fontsize=8,
    )
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.set_layout_engine("constrained")
    return fig


_SHEET_GAP = 2  # white pixels between the images of the sample sheet


def compose_sheet(
    pixels: NDArray[np.uint8], rows: list[NDArray[np.intp]], per_row: int
) -> NDArray[np.uint8]:
    """The images ``rows[r][c]`` side by side on a white sheet, ``_SHEET_GAP`` pixels apart."""
    h, w = pixels.shape[1:3]
    shape = (len(rows) * (h + _SHEET_GAP) - _SHEET_GAP, per_row * (w + _SHEET_GAP) - _SHEET_GAP)
    sheet = np.full((*shape, *pixels.shape[3:]), 255, dtype=np.uint8)
    for r, members in enumerate(rows):
        for c, i in enumerate(members[:per_row]):
            top, left = r * (h + _SHEET_GAP), c * (w + _SHEET_GAP)
            sheet[top : top + h, left : left + w] = pixels[i]
    return sheet


def _sample_groups(
    labels: NDArray[np.int64], class_names: tuple[str, ...], per_class: int
) -> list[tuple[str, NDArray[np.intp]]]:
    """The first ``per_class`` images of each class, in index order (deterministic)."""
    groups = [(name, np.flatnonzero(labels == k)[:per_class]) for k, name in enumerate(class_names)]
    groups = [(name, members) for name, members in groups if len(members)][:MAX_SAMPLE_CLASSES]
    unlabelled = np.flatnonzero(labels < 0)
    if len(groups) < MAX_SAMPLE_CLASSES and (len(unlabelled) or not groups):
        groups.append(("no class", unlabelled[:per_class]))
    return groups


def resize_tiles(pixels: NDArray[np.uint8], tile_px: int) -> NDArray[np.uint8]:
    """Resize every image to ``tile_px`` square (no-op when already that size)."""
    if pixels.shape[1] == tile_px and pixels.shape[2] == tile_px:
        return pixels
    out = np.empty((len(pixels), tile_px, tile_px, *pixels.shape[3:]), dtype=np.uint8)
    for i, img in enumerate(pixels):
        out[i] = np.asarray(
            Image.fromarray(img).resize((tile_px, tile_px), Image.Resampling.BILINEAR)
        )
    return out


def downsample(image: NDArray[np.uint8], max_px: int) -> NDArray[np.uint8]:
    """Shrink an image so its longer side is at most ``max_px`` (area-averaging)."""
    h, w = image.shape[:2]
    scale = max_px / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def _square_figure(title: str, *, facecolor: str = "white") -> tuple[Figure, Axes]:
    fig = Figure(figsize=(8, 8), dpi=125, facecolor=facecolor)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    fig.set_layout_engine("constrained")
    return fig, ax


def _subsample(n: int, most: int | None = None) -> NDArray[np.intp]:
    """Every k-th index, k the smallest step that keeps at most ``most`` (``MAX_DRAWN``) items."""
    step = -(-n // (MAX_DRAWN if most is None else most))
    return np.arange(0, n, step)


def _subsample_note(n: int, idx: NDArray[np.intp]) -> str:
    if len(idx) == n:
        return ""
    step = int(idx[1] - idx[0])
    return f" (1 in {step} of {n:,})"


def _dot_size(n: int) -> float:
    return float(np.clip(4000.0 / max(n, 1), 0.5, 40.0))


def _arrow_width(n: int) -> float:
    return float(np.clip(0.06 / np.sqrt(max(n, 1)), 0.0004, 0.006))


def _overlay_tile_px(n: int, native: int, canvas_px: int) -> int:
    """Tiles big enough to read, small enough that a dense cluster does not become one blob."""
    target = int(canvas_px / np.sqrt(max(n, 1)) * 1.3)
    return int(np.clip(target, 8, 64))
