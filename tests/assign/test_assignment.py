"""Tests of the exact grid assignment: invariants, brute force, the scipy oracle, validation."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from tsnegrid.assign import assignment
from tsnegrid.assign.assignment import (
    OPTIMALITY_RTOL,
    GridAssignment,
    assign_to_grid,
    dense_cost_matrix,
)
from tsnegrid.assign.grid import axis_coords, cell_width, grid_nodes
from tsnegrid.assign.solver import coarse, multilevel, problem, solve_lattice
from tsnegrid.errors import UsageError


def optimum(points: NDArray[np.float64], rows: int, cols: int) -> float:
    cost = dense_cost_matrix(points, rows, cols)
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].sum())


def tolerance(cost: float, n: int, rows: int, cols: int) -> float:
    return OPTIMALITY_RTOL * (cost + n * cell_width(rows, cols) ** 2) + 1e-12


def blobs(rng: np.random.Generator, n: int, n_blobs: int = 3, scale: float = 0.03) -> NDArray:
    centres = rng.uniform(0.2, 0.8, size=(n_blobs, 2))
    p = centres[rng.integers(0, n_blobs, n)] + rng.normal(scale=scale, size=(n, 2))
    return np.clip(p, 0.0, 1.0)


def make(kind: str, rng: np.random.Generator, n: int, rows: int, cols: int) -> NDArray:
    if kind == "uniform":
        return rng.random((n, 2))
    if kind == "blobs":
        return blobs(rng, n)
    if kind == "duplicates":
        return np.repeat(rng.random((max(1, n // 3), 2)), 3, axis=0)[:n]
    if kind == "one_spot":
        return np.tile(rng.random(2), (n, 1))
    if kind == "on_nodes":
        return grid_nodes(rows, cols)[rng.permutation(rows * cols)[:n]]
    raise AssertionError(kind)


def check_against_scipy(
    points: NDArray[np.float64], rows: int, cols: int
) -> tuple[GridAssignment, float]:
    """Solve with ``auto``; check the invariants, the proof and scipy's optimal cost (returned)."""
    result = assign_to_grid(points, rows, cols)
    check_invariants(result, points, rows, cols)
    best = optimum(points, rows, cols)
    assert result.optimal
    assert abs(result.cost - best) <= tolerance(best, len(points), rows, cols)
    return result, best


def check_invariants(result: GridAssignment, points: NDArray, rows: int, cols: int) -> None:
    node = result.node_of_point
    assert node.shape == (len(points),)
    assert len(np.unique(node)) == len(points)
    assert node.min() >= 0 and node.max() < rows * cols
    recomputed = float(np.sum((points - grid_nodes(rows, cols)[node]) ** 2))
    assert result.cost == pytest.approx(recomputed, rel=1e-12, abs=1e-15)
    assert result.lower_bound <= result.cost + tolerance(result.cost, len(points), rows, cols)
    assert (result.rows, result.cols) == (rows, cols)


SHAPES = [
    (1, 1, 1),
    (1, 1, 5),
    (3, 1, 5),
    (4, 4, 1),
    (2, 2, 2),
    (3, 2, 2),
    (6, 3, 3),
    (9, 3, 3),
    (7, 2, 5),
    (12, 4, 4),
    (20, 5, 5),
    (25, 5, 5),
    (30, 6, 7),
    (50, 1, 60),
    (40, 45, 1),
    (100, 10, 10),
    (80, 9, 11),
    (256, 16, 16),
    (300, 18, 18),
    (324, 18, 18),
    (500, 17, 30),
    (900, 30, 30),
    (700, 30, 30),
]
KINDS = ["uniform", "blobs", "duplicates", "one_spot", "on_nodes"]


@pytest.mark.parametrize(("n", "rows", "cols"), SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_auto_matches_scipy_on_many_instances(n: int, rows: int, cols: int, kind: str) -> None:
    seeds = range(6) if n <= 100 else range(2)
    for seed in seeds:
        rng = np.random.default_rng([seed, n, rows, cols, KINDS.index(kind)])
        result, best = check_against_scipy(make(kind, rng, n, rows, cols), rows, cols)
        assert result.lower_bound == pytest.approx(best, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("n", "rows", "cols"), SHAPES[::2])
@pytest.mark.parametrize("kind", KINDS)
def test_implicit_auction_path_matches_scipy(
    n: int, rows: int, cols: int, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The auction on the full implicit problem (run where the sparse one stalls), forced."""
    monkeypatch.setattr(problem, "STALL_SHARE", -1.0)
    monkeypatch.setattr(problem, "STALL_MIN", -1)
    for seed in range(3):
        rng = np.random.default_rng([seed, n, rows, cols, KINDS.index(kind), 7])
        check_against_scipy(make(kind, rng, n, rows, cols), rows, cols)


@pytest.mark.parametrize(("n", "rows", "cols"), [s for s in SHAPES if s[0] == s[1] * s[2]])
@pytest.mark.parametrize("kind", KINDS)
def test_backward_augmenting_paths_match_scipy(
    n: int, rows: int, cols: int, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Square problems, every augmenting path searched from the free columns (forced)."""
    monkeypatch.setattr(problem, "SCAN_LIMIT", (0, 0.0))
    for seed in range(3):
        rng = np.random.default_rng([seed, n, rows, cols, KINDS.index(kind), 11])
        result, best = check_against_scipy(make(kind, rng, n, rows, cols), rows, cols)
        assert result.lower_bound == pytest.approx(best, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("n", "rows", "cols"), [s for s in SHAPES if s[1] * s[2] > 256])
@pytest.mark.parametrize("kind", KINDS)
def test_one_axis_coarsening_matches_scipy(
    n: int, rows: int, cols: int, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every level coarsened one axis at a time (as above ``ONE_AXIS_FROM`` nodes), forced."""
    monkeypatch.setattr(multilevel, "ONE_AXIS_FROM", 0)
    for seed in range(2):
        rng = np.random.default_rng([seed, n, rows, cols, KINDS.index(kind), 13])
        result, best = check_against_scipy(make(kind, rng, n, rows, cols), rows, cols)
        assert result.lower_bound == pytest.approx(best, rel=1e-9, abs=1e-9)


def test_large_lattices_are_coarsened_one_axis_at_a_time() -> None:
    def shape(rows: int, cols: int) -> tuple[int, int]:
        xs, ys = multilevel.coarser(axis_coords(cols), axis_coords(rows))
        return len(ys), len(xs)

    assert shape(500, 500) == (250, 250)  # 250,000 nodes: both axes
    assert shape(1000, 1000) == (1000, 500)  # a million: the longer axis, x on a tie
    assert shape(1000, 500) == (500, 500)
    assert shape(600, 999) == (600, 500)


@pytest.mark.parametrize(
    ("n", "rows", "cols"),
    [(4, 2, 2), (5, 2, 3), (6, 2, 3), (3, 1, 4), (5, 5, 1), (6, 3, 3), (7, 2, 4)],
)
def test_brute_force_on_tiny_cases(n: int, rows: int, cols: int) -> None:
    nodes = grid_nodes(rows, cols)
    for seed in range(5):
        points = np.random.default_rng([seed, n]).random((n, 2))
        cost = ((points[:, None, :] - nodes[None]) ** 2).sum(-1)
        best = min(
            cost[np.arange(n), list(perm)].sum()
            for perm in itertools.permutations(range(rows * cols), n)
        )
        result = assign_to_grid(points, rows, cols)
        assert result.cost == pytest.approx(best, rel=1e-12, abs=1e-15)
        assert result.optimal


@pytest.mark.parametrize(("n", "rows", "cols"), [(9, 3, 3), (7, 3, 3), (30, 4, 10), (300, 20, 20)])
def test_dual_is_feasible_on_the_whole_dense_matrix(n: int, rows: int, cols: int) -> None:
    points = blobs(np.random.default_rng(n), n)
    sol = solve_lattice(points, rows, cols)
    reduced = dense_cost_matrix(points, rows, cols) - sol.u[:, None] - sol.v[None, :]
    assert reduced.min() >= -1e-12
    matched = reduced[np.arange(n), sol.node_of_point]
    assert np.abs(matched).max() <= 1e-12  # complementary slackness
    bound = sol.u.sum() + sol.v.sum() - (rows * cols - n) * sol.v.max()
    assert sol.lower_bound == pytest.approx(bound, rel=1e-12, abs=1e-12)
    free = np.setdiff1d(np.arange(rows * cols), sol.node_of_point)
    assert np.all(sol.v[free] >= sol.v.max() - 1e-12)  # empty cells hold the dummies


def test_points_on_nodes_cost_zero_and_one_spot_is_symmetric() -> None:
    nodes = grid_nodes(7, 9)
    exact = assign_to_grid(nodes[::-1], 7, 9)
    assert exact.cost == 0.0 and exact.optimal
    np.testing.assert_array_equal(exact.node_of_point, np.arange(63)[::-1])
    centre = assign_to_grid(np.full((9, 2), 0.5), 3, 3)
    assert centre.cost == pytest.approx(4 * 0.25 + 4 * 0.5)


def test_same_input_gives_the_same_assignment() -> None:
    points = blobs(np.random.default_rng(7), 900, n_blobs=5, scale=0.02)
    first = assign_to_grid(points, 30, 30)
    second = assign_to_grid(points.copy(), 30, 30)
    np.testing.assert_array_equal(first.node_of_point, second.node_of_point)
    assert first.lower_bound == second.lower_bound


@pytest.mark.parametrize(("n", "rows", "cols"), [(25, 5, 5), (20, 5, 5), (300, 20, 20)])
def test_scipy_solver_is_certified_by_our_bound(n: int, rows: int, cols: int) -> None:
    points = blobs(np.random.default_rng(n), n)
    result = assign_to_grid(points, rows, cols, solver="scipy")
    check_invariants(result, points, rows, cols)
    assert result.solver == "scipy" and result.optimal
    assert result.cost == pytest.approx(assign_to_grid(points, rows, cols).cost, rel=1e-12)


@pytest.mark.parametrize(("n", "rows", "cols"), [(25, 5, 5), (20, 5, 5), (1, 1, 1), (290, 17, 18)])
def test_lapjv_agrees_where_installed(n: int, rows: int, cols: int) -> None:
    pytest.importorskip("lapjv")
    points = blobs(np.random.default_rng(n), n)
    result = assign_to_grid(points, rows, cols, solver="lapjv")
    check_invariants(result, points, rows, cols)
    best = optimum(points, rows, cols)
    # lapjv works in float32 on a scaled matrix: it may land a hair above the optimum.
    assert best - 1e-12 <= result.cost <= best * (1 + 1e-6) + 1e-12
    gap_ok = result.cost - result.lower_bound <= tolerance(result.cost, n, rows, cols)
    assert result.optimal == gap_ok


@pytest.mark.parametrize(
    ("points", "rows", "cols", "solver", "fragment"),
    [
        (np.zeros((4, 3)), 2, 2, "auto", "shape (4, 3)"),
        (np.zeros(4), 2, 2, "auto", "shape (4,)"),
        (np.zeros((0, 2)), 2, 2, "auto", "0 rows"),
        (np.zeros((5, 2)), 2, 2, "auto", "enlarge the grid"),
        (np.array([[0.5, np.nan]]), 2, 2, "auto", "NaN"),
        (np.array([[0.5, 1.5]]), 2, 2, "auto", "outside [0, 1]"),
        (np.array([[-0.1, 0.5]]), 2, 2, "auto", "min-max normalise"),
        (np.zeros((1, 2)), 0, 2, "auto", "rows=0"),
        (np.zeros((1, 2)), 2, 2.5, "auto", "cols=2.5"),
        (np.zeros((1, 2)), 2, 2, "hungarian", "solver='hungarian'"),
        ([["a", "b"]], 2, 2, "auto", "not numeric"),
    ],
)
def test_invalid_input_names_the_argument(points, rows, cols, solver, fragment) -> None:
    with pytest.raises(UsageError) as info:
        assign_to_grid(points, rows, cols, solver=solver)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_missing_lapjv_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assignment, "lapjv_available", lambda: False)
    with pytest.raises(UsageError, match="pip install lapjv") as info:
        assign_to_grid(np.zeros((1, 2)), 1, 1, solver="lapjv")
    assert "--solver auto" in str(info.value)


def test_points_a_rounding_error_outside_are_accepted() -> None:
    points = np.array([[1 + 1e-12, -1e-12], [0.5, 0.5]])
    result = assign_to_grid(points, 1, 2)
    assert result.optimal and sorted(result.node_of_point) == [0, 1]


def test_the_solver_sees_the_points_along_a_hilbert_curve(monkeypatch: pytest.MonkeyPatch) -> None:
    """The levels get the points in curve order, each coarser level evenly spaced picks of the
    finer one's; the caller gets its own order back."""
    points = blobs(np.random.default_rng(5), 500, n_blobs=4)
    seen: list[NDArray] = []
    solve = multilevel._solve

    def spy(pts: NDArray, *args: Any) -> tuple[multilevel.Solution, bool]:
        seen.append(pts)
        return solve(pts, *args)

    monkeypatch.setattr(multilevel, "_solve", spy)
    sol = solve_lattice(points, 25, 25)
    order = np.argsort(coarse.hilbert_index(points), kind="stable")
    assert np.array_equal(seen[0], points[order])
    assert len(seen) >= 2
    for level in seen:  # every level's points are in curve order, so no level sorts them again
        assert np.all(np.diff(coarse.hilbert_index(level)) >= 0)
    for finer, coarser in itertools.pairwise(seen):
        picks = (np.arange(len(coarser)) * len(finer)) // len(coarser)
        assert np.array_equal(coarser, finer[picks])
    perm = np.random.default_rng(6).permutation(len(points))
    again = solve_lattice(points[perm], 25, 25)
    assert np.array_equal(again.node_of_point, sol.node_of_point[perm])
    assert np.array_equal(again.u, sol.u[perm])
    assert np.array_equal(again.v, sol.v)


@pytest.mark.parametrize(("stalls_at", "implicit_above"), [(256, []), (1024, [3969])])
def test_only_a_stall_above_the_base_level_skips_the_sparse_auction(
    stalls_at: int, implicit_above: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A level whose sparse auction stalls passes the implicit auction up to the finer levels,
    except the base level (zero starting potentials: its bid budget runs out where a finer
    level's would not)."""
    refine = problem._refine
    started: dict[int, bool] = {}

    def spy(lat: Any, v: NDArray, k: int, feasible: NDArray, implicit: bool) -> Any:
        started[lat.m] = implicit
        if lat.m == stalls_at:  # as if it had stalled
            monkeypatch.setattr(problem, "STALL_MIN", -1)
            monkeypatch.setattr(problem, "STALL_SHARE", -1.0)
        try:
            return refine(lat, v, k, feasible, implicit)
        finally:
            monkeypatch.setattr(problem, "STALL_MIN", 10**9)
            monkeypatch.setattr(problem, "STALL_SHARE", 1.0)

    monkeypatch.setattr(problem, "_refine", spy)
    monkeypatch.setattr(problem, "STALL_MIN", 10**9)
    points = blobs(np.random.default_rng(9), 3900, n_blobs=5)
    sol = solve_lattice(points, 63, 63)
    assert sorted(started) == [256, 1024, 3969]
    assert [m for m in sorted(started) if started[m]] == implicit_above
    assert len(set(sol.node_of_point.tolist())) == len(points)
