"""Every tunable value of a run, validated in one place.

A :class:`Config` is frozen; ``generate.py`` builds one from its flags and the pipeline reads
nothing else. Invalid values raise :class:`~tsnegrid.errors.UsageError` with a message that names
the field, the value and the fix.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

from tsnegrid.errors import UsageError

#: The built-in datasets (``--dataset``).
DatasetName = Literal["digits", "mnist", "fashion-mnist"]
#: The linear-assignment solvers (``--solver``).
SolverName = Literal["auto", "scipy", "lapjv"]
#: The t-SNE engines (``--tsne``).
TsneEngine = Literal["tsnegrid", "opentsne", "sklearn"]
#: The nearest-neighbour search (``--neighbours``): ``auto`` is exact below 100,000 images.
NeighbourMethod = Literal["auto", "exact", "approx"]
#: With no --size, --grid, --n or --all, a large dataset is sampled down to this many images
#: (the notebook's 50 x 50 run); a smaller one is used whole.
DEFAULT_MAX_IMAGES = 2500
_NOT_RESULT = frozenset({"out", "cache_dir", "force", "templates", "baseline", "dask"})


@dataclass(frozen=True)
class Config:
    """The resolved settings of one run.

    Attributes
    ----------
    dataset : a built-in dataset (:data:`DatasetName`); ignored when ``images`` is set.
    images : a folder of images to lay out instead of a built-in dataset.
    features : a .npy or .csv file of precomputed features to use instead of the pixels.
    size : an S x S grid with S*S images sampled (the notebook's ``--size``).
    grid : (rows, cols) of any rectangle; at most rows*cols images, cells may stay empty.
    n_images : how many images to sample; defaults from ``size``/``grid``/the dataset.
    all_images : use every image of the dataset.
    seed : the one seed every random stage receives.
    pca : PCA dimensions before t-SNE (fewer when the data has fewer).
    perplexity : t-SNE perplexity (lowered, with a note, when too large for the sample).
    tsne_iter : t-SNE optimisation iterations (early exaggeration included); None: the
        engine's default (ours and openTSNE 750, scikit-learn 1000).
    tsne : the t-SNE engine: ``tsnegrid`` (ours, :mod:`tsnegrid.embed.bhtsne`, the default),
        ``opentsne`` or ``sklearn`` (the notebook's).
    threads : threads of every stage (OpenMP and BLAS are capped to it, t-SNE, the DPQ metric
        and the map's encoding use it); fixed here and recorded in the manifest. Results do
        not depend on it (tested for 1 and 2).
    solver : the linear-assignment solver.
    polish : polish the assigned layout for distance preservation (:mod:`tsnegrid.layout`);
        False keeps the notebook's t-SNE + exact assignment as the final map.
    mask : an image whose dark parts are the grid cells images may take (the map's shape).
    neighbours : the nearest-neighbour search: exact, approximate (HNSW), or ``auto``.
    dask : a Dask scheduler's address, or ``local`` for a cluster on this machine, that encodes
        the map's tiles and decodes and thumbnails an ``images`` folder (the report is the
        same); None: this process does.
    out : the folder the report is written to.
    data_dir : where datasets are looked for and cached.
    thumb_px : side of the square thumbnail of each image of a folder.
    strict_input : make any skipped (unreadable) image an error.
    cache_dir : where stage results are cached (None: no cache is read or written).
    force : recompute every stage (the results are still cached).
    templates : a folder of page templates that override the shipped ones by file name (as
        MkDocs's ``custom_dir``); None: the shipped templates only.
    """

    dataset: DatasetName = "digits"
    images: Path | None = None
    features: Path | None = None
    size: int | None = None
    grid: tuple[int, int] | None = None
    n_images: int | None = None
    all_images: bool = False
    seed: int = 777
    pca: int = 100
    perplexity: float = 30.0
    tsne_iter: int | None = None
    tsne: TsneEngine = "tsnegrid"
    threads: int = 2
    solver: SolverName = "auto"
    polish: bool = True
    mask: Path | None = None
    neighbours: NeighbourMethod = "auto"
    out: Path = Path("docs")
    data_dir: Path = Path("data")
    thumb_px: int = 32
    strict_input: bool = False
    cache_dir: Path | None = Path(".cache")
    force: bool = False
    templates: Path | None = None
    baseline: str | None = None
    dask: str | None = None

    def __post_init__(self) -> None:
        _check_choice("dataset", self.dataset, choices(DatasetName))
        _check_choice("solver", self.solver, choices(SolverName))
        _check_choice("tsne", self.tsne, choices(TsneEngine))
        _check_choice("neighbours", self.neighbours, choices(NeighbourMethod))
        _check_positive("threads", self.threads)
        _check_positive("size", self.size)
        _check_positive("n_images", self.n_images)
        _check_positive("pca", self.pca)
        _check_positive("tsne_iter", self.tsne_iter, minimum=250)
        _check_positive("thumb_px", self.thumb_px, minimum=4)
        if self.grid is not None:
            rows, cols = self.grid
            if rows < 1 or cols < 1:
                raise UsageError(f"grid {rows}x{cols}: rows and cols must be at least 1")
        if self.size is not None and self.grid is not None:
            raise UsageError(
                "--size and --grid both given: use --size S for an S x S grid or --grid"
            )
        if self.all_images and (self.n_images is not None or self.size is not None):
            raise UsageError("--all conflicts with --n/--size: --all already takes every image")
        if not self.perplexity > 0:
            raise UsageError(f"perplexity {self.perplexity:g}: must be a positive number, e.g. 30")
        if not 0 <= self.seed < 2**32:
            raise UsageError(f"seed {self.seed}: must be an integer from 0 to 2**32 - 1")

    @property
    def source_label(self) -> str:
        """What is laid out: the dataset name or the image folder."""
        if self.images is None:
            return self.dataset
        return self.images.resolve().name or self.images.as_posix()

    def to_json(self) -> dict[str, Any]:
        """The config as JSON-ready values (paths as posix strings)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    def digest(self) -> str:
        """A short, stable hash of everything that decides the result.

        The output folder, the cache settings and the template folder are left out: they change
        where things go and how pages look, not what is computed.
        """
        data = {k: v for k, v in self.to_json().items() if k not in _NOT_RESULT}
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def choices(literal: Any) -> tuple[str, ...]:
    """The values of a ``Literal`` type, in order: the one list of a setting's choices."""
    return tuple(get_args(literal))


def default(name: str) -> Any:
    """The default of the :class:`Config` field ``name``: the one place defaults live."""
    return Config.__dataclass_fields__[name].default


def parse_grid(text: str) -> tuple[int, int]:
    """Parse ``ROWSxCOLS`` (e.g. ``40x60``) into (rows, cols)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if match is None:
        raise UsageError(f"--grid {text!r}: expected ROWSxCOLS, for example --grid 40x60")
    return int(match.group(1)), int(match.group(2))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{name} {value!r} is not known: choose one of {', '.join(choices)}")


def _check_positive(name: str, value: int | None, *, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise UsageError(f"{name} {value}: must be at least {minimum}")
