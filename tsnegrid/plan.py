"""How many images go on which grid: decided from the config, the dataset size and the mask."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.grid import near_square_grid
from tsnegrid.config import DEFAULT_MAX_IMAGES, Config
from tsnegrid.data.mask import mask_grid, usable_cells
from tsnegrid.errors import UsageError
from tsnegrid.results import LayoutPlan


def plan_layout(
    config: Config, n_available: int, mask: NDArray[np.float64] | None = None
) -> LayoutPlan:
    """Decide N and the grid: ``--grid``/``--size`` fix the grid, ``--n``/``--all`` fix N.

    With neither, N is the whole dataset up to ``DEFAULT_MAX_IMAGES`` and the grid is the
    near-square one that fits it, or, with a ``mask`` (its luminance), the smallest grid of the
    mask's aspect whose dark cells hold N.
    """
    fixed = config.grid or (None if config.size is None else (config.size, config.size))
    if fixed is not None:
        rows, cols = fixed
        usable = None if mask is None else usable_cells(mask, rows, cols)
        room = rows * cols if usable is None else int(usable.sum())
        wanted = config.n_images or (n_available if config.all_images else room)
        if wanted > room:
            raise UsageError(_no_room(rows, cols, room, wanted, mask))
    else:
        wanted = config.n_images or (n_available if config.all_images else DEFAULT_MAX_IMAGES)
        n = min(wanted, n_available)
        rows, cols = near_square_grid(n) if mask is None else mask_grid(mask, n)
        usable = None if mask is None else usable_cells(mask, rows, cols)
        room = rows * cols if usable is None else int(usable.sum())
    n = min(wanted, n_available)
    notes = []
    if n < wanted and (config.n_images is not None or fixed is not None):
        notes.append(f"The dataset has only {n_available:,} images, so all of them are used.")
    if usable is not None:
        notes.append(f"The mask leaves {room:,} of the {rows * cols:,} cells usable.")
    if n < room:
        verb = "stays" if room - n == 1 else "stay"
        notes.append(
            f"{room - n:,} of the {room:,} usable cells {verb} empty."
            if usable is not None
            else f"{room - n:,} of the {room:,} cells {verb} empty."
        )
    return LayoutPlan(n_images=n, rows=rows, cols=cols, notes=tuple(notes), usable=usable)


def _no_room(rows: int, cols: int, room: int, wanted: int, mask: object) -> str:
    under = "" if mask is None else " usable"
    cells = (
        f"has {room:,} cells" if mask is None else f"leaves {room:,}{under} cells under the mask"
    )
    return (
        f"grid {rows}x{cols} {cells} but {wanted:,} images were asked for: use a larger "
        f"--grid or --n {room} or less"
    )
