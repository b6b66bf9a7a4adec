"""The values that pass between the stages: frozen dataclasses with their shapes.

Every stage takes and returns these (or plain arrays), so a stage can be read, tested and
replaced on its own: ``data`` makes an :class:`ImageSet`, ``embed`` an :class:`Embedding` (and
the :class:`Neighbours` it shares with ``quality``), ``assign`` a :class:`GridAssignment`,
``quality`` a :class:`QualityReport`, ``report`` the :class:`Artifact` files; ``pipeline.run``
gathers them into a :class:`RunResult`, from which the report is rendered alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tsnegrid.config import Config

#: Called with the fraction of a long computation done so far (progress bars).
Progress = Callable[[float], None]
#: Neighbourhood sizes of the neighbourhood-preservation curves.
DEFAULT_KS = tuple(range(1, 11))


@dataclass(frozen=True)
class SkippedFile:
    """A file of an image folder that could not be used.

    Attributes
    ----------
    name : str
        The path relative to the folder, with ``/`` separators.
    reason : str
        One short sentence: why it was skipped.
    """

    name: str
    reason: str


@dataclass(frozen=True)
class ImageSet:
    """Images with their labels and stable names.

    Attributes
    ----------
    pixels : NDArray[np.uint8]
        Shape (n_images, height, width) grayscale or (n_images, height, width, 3) RGB.
    labels : NDArray[np.int64]
        Shape (n_images,): index into ``class_names``, -1 where unknown.
    class_names : tuple[str, ...]
        The name of each class.
    names : tuple[str, ...]
        A stable id per image: ``"train/00123"`` for datasets, the relative path for folders.
    source : str
        Where the images came from, for people (``"scikit-learn digits"``, ...).
    skipped : tuple[SkippedFile, ...]
        Files of an image folder that could not be read.
    """

    pixels: NDArray[np.uint8]
    labels: NDArray[np.int64]
    class_names: tuple[str, ...]
    names: tuple[str, ...]
    source: str
    skipped: tuple[SkippedFile, ...] = ()

    def __post_init__(self) -> None:
        pixels, labels = self.pixels, self.labels
        if pixels.dtype != np.uint8 or not (
            pixels.ndim == 3 or (pixels.ndim == 4 and pixels.shape[3] == 3)
        ):
            raise ValueError(
                f"pixels must be uint8 (n, h, w) or (n, h, w, 3), got {pixels.dtype} {pixels.shape}"
            )
        if labels.dtype != np.int64 or labels.shape != (len(pixels),):
            raise ValueError(
                f"labels must be int64 of shape ({len(pixels)},), got {labels.dtype} {labels.shape}"
            )
        if len(self.names) != len(pixels):
            raise ValueError(f"{len(self.names)} names for {len(pixels)} images")
        if labels.size and (labels.min() < -1 or labels.max() >= len(self.class_names)):
            raise ValueError(f"labels must lie in -1..{len(self.class_names) - 1}")

    @property
    def n_images(self) -> int:
        """The number of images."""
        return len(self.pixels)


@dataclass(frozen=True)
class Embedding:
    """A 2-D embedding normalised to the unit square.

    Attributes
    ----------
    points : (n, 2) float64 in [0, 1], each axis min-max normalised (a constant axis sits at 0.5).
    perplexity : the perplexity t-SNE actually used.
    notes : sentences for the report about what was adjusted and why.
    """

    points: NDArray[np.float64]
    perplexity: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Neighbours:
    """Each item's ``k`` nearest other items in feature space (euclidean), nearest first.

    Computed once and shared: t-SNE's affinities and the quality stage's neighbourhoods both
    start from it. ``method`` is ``exact`` or ``approx`` (HNSW); ``recall`` the approximate
    search's recall@10 against the exact one on a seeded sample (None when exact).
    """

    indices: NDArray[np.intp]  # (n, k)
    distances: NDArray[np.float64]  # (n, k)
    method: str = "exact"
    recall: float | None = None


@dataclass(frozen=True)
class NeighbourSearch:
    """How the nearest neighbours were found: ``exact`` or ``approx`` (HNSW), with the
    approximate search's recall@10 against the exact one on a seeded sample (None if exact)."""

    method: str
    k: int
    recall: float | None = None


@dataclass(frozen=True)
class GridAssignment:
    """Which node each point went to, what it costs, and the proof.

    Attributes
    ----------
    node_of_point : (n_points,) node index ``r * cols + c``, all distinct.
    rows, cols : the grid shape.
    cost : sum of squared euclidean displacements, float64, recomputed from the points.
    lower_bound : a bound on the cost of every assignment, from a dual feasible for the full
        dense problem.
    optimal : ``cost - lower_bound`` is within the tolerance (see the module docstring).
    solver : ``"auto"`` (ours), ``"scipy"`` or ``"lapjv"``.
    """

    node_of_point: NDArray[np.intp]
    rows: int
    cols: int
    cost: float
    lower_bound: float
    optimal: bool
    solver: str


@dataclass(frozen=True)
class Estimate:
    """A metric's value, exact or estimated.

    Attributes
    ----------
    value : the metric (the plug-in estimate when not exact).
    stderr : its standard error; 0.0 when exact.
    exact : whether ``value`` was computed from every item.
    n_anchors : items used as anchors (``== n`` when exact).
    """

    value: float
    stderr: float
    exact: bool
    n_anchors: int


@dataclass(frozen=True)
class Displacement:
    """How far images moved from their t-SNE position to their cell.

    Attributes
    ----------
    mean, median, max : distance in cell widths: x is scaled by ``cols - 1`` and y by
        ``rows - 1`` (by 1 on an axis with a single node), so neighbouring nodes are 1 apart
        along each axis even on a rectangular grid.
    total_cost : ``Σ_i |p_i - node_i|²`` in unit-square coordinates: the assignment's cost.
    """

    mean: float
    median: float
    max: float
    total_cost: float


@dataclass(frozen=True)
class LayoutQuality:
    """Every quality number of one layout.

    Attributes
    ----------
    dpq16 : DPQ_16 (exact or estimated, see :func:`tsnegrid.dpq.dpq`).
    np_embedding : (len(ks),) neighbourhood preservation of the 2-D embedding; None without one
        (the baselines).
    np_grid : (len(ks),) neighbourhood preservation of the grid.
    displacement : None without an embedding.
    coherence : class coherence; None without labels.
    ks : the neighbourhood sizes of ``np_embedding`` and ``np_grid``.
    np_rows : how many images ``np_embedding`` and ``np_grid`` average over: every image, or a
        seeded sample of a large collection (None: every image).
    """

    dpq16: Estimate
    np_embedding: NDArray[np.float64] | None
    np_grid: NDArray[np.float64]
    displacement: Displacement | None
    coherence: float | None
    ks: tuple[int, ...] = DEFAULT_KS
    np_rows: int | None = None


@dataclass(frozen=True)
class ScoredLayout:
    """One arrangement and its quality numbers."""

    name: str
    description: str
    node_of_point: NDArray[np.intp]
    quality: LayoutQuality


@dataclass(frozen=True)
class QualityReport:
    """The run's layout first, then the baselines (none with fewer than 2 images)."""

    layouts: tuple[ScoredLayout, ...]


@dataclass(frozen=True)
class Artifact:
    """One file of the report: its path relative to the output folder and its bytes."""

    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class PolishedLayout:
    """A polished layout and what the report shows about it.

    Attributes
    ----------
    node_of_point : (n,) distinct usable node indices ``r * cols + c``.
    dpq_before, dpq_after : DPQ_16 of the input and of the returned layout.
    dpq_exact : False when both were estimated from anchors (more than 5,000 images).
    filter_passes : sorting (LAS) and filtered-map assignment passes before the swaps of the
        kept layout (0: the swaps alone won, or the input was kept).
    swap_sweeps : pair-swap sweeps run for the kept layout; swaps: swaps made in them.
    moved : images whose cell differs from the input's.
    kept_input : True when polishing did not raise DPQ_16 and the input was returned.
    """

    node_of_point: NDArray[np.intp]
    dpq_before: float
    dpq_after: float
    dpq_exact: bool
    filter_passes: int
    swap_sweeps: int
    swaps: int
    moved: int
    kept_input: bool


@dataclass(frozen=True)
class StageTime:
    """How long one stage took in this run, and whether it was computed or loaded.

    ``status`` is ``computed``, ``loaded`` (from the cache) or ``recomputed`` (the cache entry
    was corrupt); ``computed_seconds`` is what computing it took, in this run or the one that
    cached it. ``peak_mib`` is the process's peak resident memory so far, after the stage.
    """

    name: str
    seconds: float
    status: str = "computed"
    computed_seconds: float | None = None
    peak_mib: float = 0.0


@dataclass(frozen=True)
class LayoutPlan:
    """How many images go on which grid, decided from the config and the dataset size."""

    n_images: int
    rows: int
    cols: int
    notes: tuple[str, ...] = ()
    usable: NDArray[np.bool_] | None = None  # (rows * cols,) the cells a mask leaves, or all


@dataclass(frozen=True)
class RunResult:
    """Everything a run made; the report is rendered from this alone."""

    config: Config
    images: ImageSet
    n_available: int
    dataset_sha256: str
    plan: LayoutPlan
    features: NDArray[np.float64]
    embedding: Embedding
    assignment: GridAssignment
    quality: QualityReport
    figures: tuple[Artifact, ...]  # the page figures, the full map and its tiles, as files
    timings: tuple[StageTime, ...]
    polished: PolishedLayout | None = None  # the final map when polishing ran
    search: NeighbourSearch | None = None

    @property
    def final_nodes(self) -> NDArray[np.intp]:
        """(n,) the cell of every image on the final map: polished, or the assignment's."""
        return (
            self.assignment.node_of_point if self.polished is None else self.polished.node_of_point
        )

    @property
    def notes(self) -> tuple[str, ...]:
        """Everything the run adjusted, for the report."""
        return self.plan.notes + self.embedding.notes

    @property
    def total_seconds(self) -> float:
        """Wall-clock seconds of all stages together."""
        return sum(t.seconds for t in self.timings)

    @property
    def peak_mib(self) -> float:
        """Peak resident memory of the run, in MiB."""
        return max((t.peak_mib for t in self.timings), default=0.0)
