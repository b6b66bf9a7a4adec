"""The assignment is the same for any number of threads: nodes, cost and lower bound."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import NDArray

from tsnegrid.assign.assignment import assign_to_grid
from tsnegrid.assign.grid import grid_nodes, near_square_grid
from tsnegrid.assign.solver import blocks, graph
from tsnegrid.errors import UsageError


def instance(kind: str, n: int, seed: int) -> NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((n, 2))
    centres = rng.uniform(0.1, 0.9, size=(6, 2))  # clustered, with wide empty regions
    return np.clip(centres[rng.integers(0, 6, n)] + rng.normal(scale=0.02, size=(n, 2)), 0, 1)


def assert_same_for_threads(points: NDArray, rows: int, cols: int, **kw: object) -> None:
    runs = [assign_to_grid(points, rows, cols, threads=t, **kw) for t in (1, 2, 3)]  # type: ignore[arg-type]
    for other in runs[1:]:
        assert np.array_equal(other.node_of_point, runs[0].node_of_point)
        assert other.cost == runs[0].cost
        assert other.lower_bound == runs[0].lower_bound
    assert runs[0].optimal


@pytest.mark.parametrize("kind", ["uniform", "blobs"])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("empty", [0.0, 0.15])
def test_small_blocks_give_the_same_result(monkeypatch, kind: str, seed: int, empty: float):
    """Blocks of a few points, so that every kernel really splits its points between threads."""
    monkeypatch.setattr(blocks, "MIN_BLOCK", 5)
    monkeypatch.setattr(graph, "MERGE_BLOCK", 5)
    n = 1500
    rows, cols = near_square_grid(round(n * (1 + empty)))
    assert_same_for_threads(instance(kind, n, seed), rows, cols)


def test_small_blocks_with_a_mask_give_the_same_result(monkeypatch) -> None:
    monkeypatch.setattr(blocks, "MIN_BLOCK", 5)
    monkeypatch.setattr(graph, "MERGE_BLOCK", 5)
    usable = np.hypot(*(grid_nodes(45, 45) - 0.5).T) <= 0.5
    assert_same_for_threads(instance("uniform", int(usable.sum()) - 40, 9), 45, 45, usable=usable)


def test_blocks_cover_the_points_in_order() -> None:
    for n, threads in ((1, 4), (10_000, 1), (10_000, 2), (50_001, 3), (50_001, 16)):
        parts = blocks.blocks(n, threads)
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
        assert len(parts) <= threads


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["uniform", "blobs"])
def test_default_blocks_give_the_same_result_on_larger_instances(kind: str) -> None:
    n = 3 * blocks.MIN_BLOCK + 100
    rows, cols = near_square_grid(round(n * 1.05))
    assert_same_for_threads(instance(kind, n, 11), rows, cols)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_threads_must_be_a_positive_integer(threads: object) -> None:
    with pytest.raises(UsageError, match="threads"):
        assign_to_grid(np.full((2, 2), 0.5), 2, 2, threads=threads)  # type: ignore[arg-type]


def test_two_solves_at_once_give_what_each_gives_alone() -> None:
    """The auction's parallel loops launched from two Python threads at once (a caller's own
    pool): each solve's nodes and bound as when run alone."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(instance("uniform", 1200, seed), *near_square_grid(1250)) for seed in (4, 5)]
    alone = [assign_to_grid(p, r, c, threads=2) for p, r, c in jobs]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda job: assign_to_grid(*job, threads=2), jobs))
    for a, b in zip(alone, together, strict=True):
        assert np.array_equal(a.node_of_point, b.node_of_point)
        assert a.lower_bound == b.lower_bound
