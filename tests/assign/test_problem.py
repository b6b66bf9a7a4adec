"""Tests of the sparse problem's exact phase: the auction's tight pairs kept, deferred searches."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from tsnegrid.assign.assignment import assignment_cost, dense_cost_matrix
from tsnegrid.assign.grid import axis_coords
from tsnegrid.assign.solver import Solution, flood, problem, reverse_lap, solve_lattice
from tsnegrid.assign.solver.auction import match_tight
from tsnegrid.assign.solver.graph import Lattice
from tsnegrid.assign.solver.sparse_lap import DUMMY, FREE


def _assert_scipys_optimum(points: np.ndarray, side: int) -> tuple[Solution, float]:
    """Solve ``points`` on a full side x side lattice; assert a one-to-one layout at scipy's
    optimal cost. Returns the solution and its cost."""
    sol = solve_lattice(points, side, side)
    cost = dense_cost_matrix(points, side, side)
    r, c = linear_sum_assignment(cost)
    mine = assignment_cost(points, sol.node_of_point, side, side)
    assert len(set(sol.node_of_point.tolist())) == side * side
    assert mine == pytest.approx(float(cost[r, c].sum()), rel=1e-9)
    return sol, mine


def _tiny_graph() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two points, two nodes, every pair an edge; point 0 is cheapest at node 0, point 1 at 1."""
    indptr = np.array([0, 2, 4], dtype=np.int64)
    indices = np.array([0, 1, 0, 1], dtype=np.int64)
    costs = np.array([1.0, 2.0, 3.0, 1.0])
    return indptr, indices, costs


@pytest.mark.parametrize(
    ("owner", "kept"), [([0, 1], [0, 1]), ([1, 0], [-1, -1]), ([0, -1], [0, -1])]
)
def test_match_tight_keeps_exactly_the_pairs_at_the_row_minimum(owner: list, kept: list) -> None:
    u = np.array([1.0, 1.0])  # min_j c_ij - v_j with v = 0
    v = np.zeros(2)
    row4col = np.full(2, -1, dtype=np.int64)
    col4row = np.full(2, -1, dtype=np.int64)
    match_tight(np.array(owner, dtype=np.int64), _tiny_graph(), u, v, row4col, col4row)
    assert col4row.tolist() == kept
    for i, j in enumerate(kept):
        if j >= 0:
            assert row4col[j] == i


def test_full_lattice_start_is_a_tight_feasible_perfect_matching() -> None:
    rng = np.random.default_rng(3)
    side = 16
    lat = Lattice.of(rng.random((side * side, 2)), axis_coords(side), axis_coords(side))
    prob = problem.SparseProblem.start(lat, np.zeros(lat.m), 24)
    assert sorted(prob.col4row.tolist()) == list(range(lat.m))
    reduced = prob.costs - prob.u[prob.erow] - prob.v[prob.indices]
    assert reduced.min() >= -1e-12
    matched = prob.indices == prob.col4row[prob.erow]
    assert np.abs(reduced[matched]).max() <= 1e-12


@pytest.mark.parametrize("seed", [0, 1])
def test_every_forward_search_deferred_still_gives_the_optimum(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan limit of one column aborts every forward search: the backward searches match all
    the rows they leave free, and the result is still optimal (scipy's cost)."""
    monkeypatch.setattr(problem, "SCAN_LIMIT", (1, 0.0))
    side = 14
    points = np.random.default_rng(seed).random((side * side, 2))
    _assert_scipys_optimum(points, side)


@pytest.mark.parametrize(
    ("seed", "n", "masked"), [(0, 150, False), (1, 150, False), (0, 120, True), (2, 200, False)]
)
def test_backward_searches_through_the_empty_cells_hub_give_the_optimum(
    seed: int, n: int, masked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With empty cells (and masked ones) and every forward search aborted, the backward
    searches, the hub among their nodes, match every row: scipy's cost, a bound that meets it,
    and paths through the hub taken (a dummy row moved)."""
    monkeypatch.setattr(problem, "SCAN_LIMIT", (1, 0.0))
    rng = np.random.default_rng(seed)
    rows, cols = 14, 15
    centres = rng.uniform(0.15, 0.85, size=(3, 2))  # clusters: the empty cells lie between
    points = np.clip(centres[rng.integers(0, 3, n)] + rng.normal(0, 0.1, (n, 2)), 0, 1)
    usable = None
    if masked:
        usable = np.ones(rows * cols, dtype=np.bool_)
        usable[rng.choice(rows * cols, 40, replace=False)] = False
    moved: list[int] = []
    flip = reverse_lap._update_and_flip

    def spy(end: int, dend: float, st: tuple, ws: tuple) -> int:
        dummies = st[3].copy()
        root = int(flip(end, dend, st, ws))
        moved.append(int(np.count_nonzero(dummies != st[3])))
        return root

    monkeypatch.setattr(reverse_lap, "_update_and_flip", spy)
    monkeypatch.setattr(problem, "augment_back", reverse_lap.augment_back.py_func)
    sol = solve_lattice(points, rows, cols, usable)
    assert moved and max(moved) == 2  # one dummy row moved: a column left it, one joined it
    cost = dense_cost_matrix(points, rows, cols)
    if usable is not None:
        cost = np.where(usable[None, :], cost, 1e9)
    r, c = linear_sum_assignment(cost)
    mine = assignment_cost(points, sol.node_of_point, rows, cols)
    assert len(set(sol.node_of_point.tolist())) == n
    assert usable is None or usable[sol.node_of_point].all()
    assert mine == pytest.approx(float(cost[r, c].sum()), rel=1e-9)
    assert sol.lower_bound == pytest.approx(mine, rel=1e-9)


@pytest.mark.parametrize("tail", [0.0, 1.0])
def test_auction_phases_cut_short_still_give_the_optimum(
    tail: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether the auction's early phases run their tail (0) or stop as soon as the queue
    no longer halves (1: every row counts as the tail), the result is scipy's optimum."""
    monkeypatch.setattr(problem, "AUCTION_TAIL", tail)
    rng = np.random.default_rng(7)
    side = 20
    centres = rng.uniform(0.2, 0.8, size=(4, 2))  # clusters and empty corners: long bid chains
    points = np.clip(
        centres[rng.integers(0, 4, side * side)] + rng.normal(0, 0.05, (side**2, 2)), 0, 1
    )
    sol, cost = _assert_scipys_optimum(points, side)
    assert sol.lower_bound == pytest.approx(cost, rel=1e-9)


def test_a_flood_descends_from_the_points_own_usable_node() -> None:
    """Two wells in the potentials: a point near well A whose own node is B's floor finds B
    first; with B masked, or without an own node, it descends from its nearest node into A."""
    side = 9
    a, b = 1 * side + 1, 7 * side + 7  # node (1, 1) and node (7, 7)
    v = np.zeros(side * side)
    v[[a, b]] = 1.0  # far deeper than any squared distance in the unit square
    points = np.array([[0.1, 0.1], [0.2, 0.15]])  # both next to A
    lat = Lattice.of(points, axis_coords(side), axis_coords(side), None)
    first = problem.candidates(lat, v, 3)[1][::3]
    assert first.tolist() == [a, a]  # both descend from their nearest node into well A
    own = np.array([b, -1], dtype=np.int64)
    assert problem.candidates(lat, v, 3, own)[1][::3].tolist() == [b, a]
    usable = np.ones(side * side, dtype=np.bool_)
    usable[b] = False
    masked = Lattice.of(points, axis_coords(side), axis_coords(side), usable)
    assert problem.candidates(masked, v, 3, own)[1][::3].tolist() == [a, a]


@pytest.mark.parametrize("masked", [False, True])
def test_a_flood_from_any_own_node_finds_the_same_candidates_on_a_smooth_bowl(
    masked: bool,
) -> None:
    """Under smooth potentials every point's bowl has one floor: any start finds it."""
    rng = np.random.default_rng(3)
    points = rng.random((300, 2))
    usable = (np.arange(400) % 20 < 16) if masked else None  # a convex usable part
    lat = Lattice.of(points, axis_coords(20), axis_coords(20), usable)
    v = -0.5 * lat.costs(np.zeros(lat.m, dtype=np.int64), np.arange(lat.m))  # a gentle bowl
    own = rng.integers(-1, lat.m, lat.n)
    default = problem.candidates(lat, v, 12)
    started = problem.candidates(lat, v, 12, own)
    assert np.array_equal(default[1], started[1])


def test_a_flood_starts_near_the_floor_where_potentials_stretch_the_points() -> None:
    """Potentials ``x^2 / 2`` send a point at (x, y) to its floor at (2x, y): the node whose
    pre-image holds the point is within two cells of it (the stretch), where the nearest node is
    far, and both starts give the same candidates."""
    side = 41
    rng = np.random.default_rng(5)
    points = rng.random((500, 2)) * [0.5, 1.0]
    lat = Lattice.of(points, axis_coords(side), axis_coords(side), None)
    v = np.tile(lat.xs**2 / 2, side)
    start = flood._preimage_starts(lat.px, lat.py, lat.xs, lat.ys, v)
    floor_r = np.rint(points[:, 1] * (side - 1))
    floor_c = np.rint(2 * points[:, 0] * (side - 1))
    assert np.all(start >= 0)
    assert np.abs(start // side - floor_r).max() <= 1
    assert np.abs(start % side - floor_c).max() <= 2  # two nodes map to each cell
    from_nearest = np.empty((lat.n, 8), dtype=np.int64)
    flood._flood_block(
        lat.px, lat.py, lat.xs, lat.ys, v, np.zeros(0, np.int64), 0, lat.n, from_nearest
    )
    assert np.array_equal(problem.candidates(lat, v, 8)[1], from_nearest.ravel())


def test_a_free_column_rises_to_the_most_its_edges_and_the_hub_allow() -> None:
    # Three rows, four columns: column 0 held by row 0, column 3 by a dummy; 1 and 2 free.
    erow = np.array([0, 0, 1, 1, 2], dtype=np.int64)
    indices = np.array([0, 1, 1, 2, 2], dtype=np.int64)
    costs = np.array([1.0, 5.0, 4.0, 9.0, 6.0])
    u = np.array([1.0, 2.0, 3.0])
    v = np.array([0.0, -7.0, -1.0, 0.0])
    row4col = np.array([0, FREE, FREE, DUMMY], dtype=np.int64)
    ready = np.ones(4, dtype=np.bool_)
    ready[3] = False
    raised = problem._raise_free_columns(indices, costs, erow, u, v, 2.5, row4col, ready)
    # column 1: min(5 - 1, 4 - 2) = 2; column 2: min(9 - 2, 6 - 3) = 3, capped at t = 2.5
    assert raised == 2 and v.tolist() == [0.0, 2.0, 2.5, 0.0]
    assert ready.tolist() == [False, False, False, False]  # every row with an edge into them
    reduced = costs - u[erow] - v[indices]
    assert reduced.min() >= 0 and sorted(reduced[indices > 0].tolist())[0] == 0.0
    again = problem._raise_free_columns(indices, costs, erow, u, v, 2.5, row4col, ready)
    assert again == 0  # already as high as they go


def test_the_empty_cells_problem_keeps_scipys_optimum_with_free_columns_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(11)
    rows, cols = 14, 15
    # Clusters that leave empty regions: the bids leave columns free there.
    centres = rng.random((4, 2))
    points = np.clip(centres[rng.integers(0, 4, 190)] + rng.normal(0, 0.08, (190, 2)), 0, 1)
    raised: list[int] = []
    kernel = problem._raise_free_columns

    def spy(*args: object) -> int:
        raised.append(int(kernel(*args)))
        return raised[-1]

    monkeypatch.setattr(problem, "_raise_free_columns", spy)
    sol = solve_lattice(points, rows, cols)
    assert sum(raised) > 0  # the instance exercises the raise
    cost = dense_cost_matrix(points, rows, cols)
    r, c = linear_sum_assignment(cost)
    mine = assignment_cost(points, sol.node_of_point, rows, cols)
    assert mine == pytest.approx(float(cost[r, c].sum()), rel=1e-9)
    assert sol.lower_bound == pytest.approx(mine, rel=1e-9)
