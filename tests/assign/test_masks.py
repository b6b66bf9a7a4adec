"""Tests of masked grids (``usable``): the scipy oracle on the masked dense matrix, invariants,
the dense peers, and the usage errors."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from tsnegrid.assign.assignment import (
    OPTIMALITY_RTOL,
    assign_to_grid,
    assignment_cost,
    dense_cost_matrix,
    lapjv_available,
)
from tsnegrid.assign.grid import cell_width, grid_nodes
from tsnegrid.assign.solver import multilevel
from tsnegrid.errors import UsageError


def disc(rows: int, cols: int, inner: float = 0.0) -> NDArray[np.bool_]:
    """(rows * cols,) the nodes within 0.5 of the centre (and at least ``inner`` from it)."""
    d = np.hypot(*(grid_nodes(rows, cols) - 0.5).T)
    return (d <= 0.5) & (d >= inner)


def masked_optimum(points: NDArray, rows: int, cols: int, usable: NDArray[np.bool_]) -> float:
    cost = dense_cost_matrix(points, rows, cols)[:, usable]
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].sum())


def make_mask(kind: str, rng: np.random.Generator, rows: int, cols: int) -> NDArray[np.bool_]:
    if kind == "random":
        return rng.random(rows * cols) < 0.6
    if kind == "disc":
        return disc(rows, cols)
    if kind == "ring":
        return disc(rows, cols, inner=0.25)
    if kind == "half":  # a whole side taken away: points far outside the usable nodes
        return grid_nodes(rows, cols)[:, 0] >= 0.5
    raise AssertionError(kind)


def make_points(kind: str, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    if kind == "uniform":
        return rng.random((n, 2))
    centres = rng.uniform(0.2, 0.8, size=(3, 2))  # tight blobs
    return np.clip(centres[rng.integers(0, 3, n)] + rng.normal(scale=0.03, size=(n, 2)), 0, 1)


def check(points: NDArray, rows: int, cols: int, usable: NDArray[np.bool_]) -> None:
    """The invariants and scipy's optimum on the masked dense matrix."""
    result = assign_to_grid(points, rows, cols, usable=usable)
    node = result.node_of_point
    assert len(np.unique(node)) == len(points)
    assert usable[node].all()
    assert result.cost == pytest.approx(assignment_cost(points, node, rows, cols), abs=1e-12)
    best = masked_optimum(points, rows, cols, usable)
    tol = OPTIMALITY_RTOL * (best + len(points) * cell_width(rows, cols) ** 2) + 1e-12
    assert result.cost <= best + tol
    assert result.lower_bound <= best + tol  # a bound of the masked problem
    assert result.optimal


@pytest.mark.parametrize("mask_kind", ["random", "disc", "ring", "half"])
@pytest.mark.parametrize("point_kind", ["uniform", "blobs"])
@pytest.mark.parametrize("seed", range(6))
def test_masked_matches_scipy_on_the_masked_matrix(mask_kind: str, point_kind: str, seed: int):
    rng = np.random.default_rng(1000 * seed + len(mask_kind) + 7 * len(point_kind))
    rows, cols = (int(x) for x in rng.integers(4, 30, 2))
    usable = make_mask(mask_kind, rng, rows, cols)
    n_usable = int(usable.sum())
    if n_usable == 0:
        pytest.skip("empty mask")
    n = int(rng.integers(max(1, n_usable // 2), n_usable + 1)) if seed % 2 else n_usable
    check(make_points(point_kind, rng, n), rows, cols, usable)


@pytest.mark.parametrize("mask_kind", ["disc", "ring", "random"])
def test_masked_larger_grids_match_scipy(mask_kind: str) -> None:
    """Several coarse levels (a 45 x 50 grid): the coarse masks and their potentials."""
    rng = np.random.default_rng(len(mask_kind))
    usable = make_mask(mask_kind, rng, 45, 50)
    n = int(usable.sum()) - 20
    check(make_points("uniform", rng, n), 45, 50, usable)


@pytest.mark.parametrize("mask_kind", ["disc", "half"])
def test_masked_grids_coarsened_one_axis_at_a_time_match_scipy(
    mask_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coarse masks when only one axis is halved per level (forced below its threshold)."""
    monkeypatch.setattr(multilevel, "ONE_AXIS_FROM", 0)
    rng = np.random.default_rng(len(mask_kind) + 3)
    usable = make_mask(mask_kind, rng, 40, 47)
    check(make_points("blobs", rng, int(usable.sum()) - 9), 40, 47, usable)


def test_a_two_dimensional_mask_is_the_same_as_its_ravel() -> None:
    rng = np.random.default_rng(3)
    usable = disc(12, 15)
    points = rng.random((60, 2))
    flat = assign_to_grid(points, 12, 15, usable=usable)
    grid = assign_to_grid(points, 12, 15, usable=usable.reshape(12, 15))
    assert np.array_equal(flat.node_of_point, grid.node_of_point)


def test_an_all_usable_mask_is_no_mask() -> None:
    rng = np.random.default_rng(4)
    points = rng.random((300, 2))
    plain = assign_to_grid(points, 18, 18)
    masked = assign_to_grid(points, 18, 18, usable=np.ones(18 * 18, dtype=bool))
    assert np.array_equal(plain.node_of_point, masked.node_of_point)
    assert plain.lower_bound == masked.lower_bound


def test_the_mask_changes_the_result_where_it_must() -> None:
    """Points spread over the square, half of it taken away: all go to the usable half."""
    rng = np.random.default_rng(5)
    usable = make_mask("half", rng, 10, 10)
    result = assign_to_grid(rng.random((50, 2)), 10, 10, usable=usable)
    assert np.all(grid_nodes(10, 10)[result.node_of_point, 0] >= 0.5)
    assert result.optimal


@pytest.mark.parametrize("solver", ["scipy", "lapjv"])
def test_dense_peers_drop_masked_columns(solver: str) -> None:
    if solver == "lapjv" and not lapjv_available():
        pytest.skip("lapjv not installed")
    rng = np.random.default_rng(6)
    usable = disc(14, 14, inner=0.2)
    points = rng.random((int(usable.sum()) - 5, 2))
    theirs = assign_to_grid(points, 14, 14, solver=solver, usable=usable)  # type: ignore[arg-type]
    ours = assign_to_grid(points, 14, 14, usable=usable)
    assert usable[theirs.node_of_point].all()
    assert len(np.unique(theirs.node_of_point)) == len(points)
    assert theirs.lower_bound == ours.lower_bound
    assert theirs.cost == pytest.approx(ours.cost, rel=1e-6 if solver == "lapjv" else 1e-9)
    if solver == "scipy":
        assert theirs.optimal


def test_too_few_usable_cells_is_a_usage_error_naming_the_counts() -> None:
    usable = np.zeros(25, dtype=bool)
    usable[:9] = True
    with pytest.raises(UsageError, match=r"9 usable cells of the 5x5 grid for 10 images.*--n"):
        assign_to_grid(np.full((10, 2), 0.5), 5, 5, usable=usable)


@pytest.mark.parametrize(
    "usable",
    [np.ones(24, dtype=bool), np.ones((5, 5), dtype=np.int64), np.ones((1, 25), dtype=bool)],
)
def test_a_mask_of_the_wrong_shape_or_type_is_a_usage_error(usable: NDArray) -> None:
    with pytest.raises(UsageError, match="usable has shape"):
        assign_to_grid(np.full((3, 2), 0.5), 5, 5, usable=usable)
