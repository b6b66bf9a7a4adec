"""The sparse assignment problem of one lattice: candidate graph, matching and potentials.

:class:`SparseProblem` owns the arrays that the numba kernels of :mod:`.sparse_lap` update in
place. It is built from starting potentials (:meth:`SparseProblem.start`: candidate graph, scaled
auction, candidate graph again under the auction's potentials, then the exact phase: on a full
lattice the auction's pairs that are exactly tight are kept and shortest augmenting paths match
the rest, next to the nodes they leave free; with empty cells, row reduction then augmenting
paths), and repaired when certification finds pairs that violate dual feasibility on the full
problem (:meth:`SparseProblem.repair`): the rows or columns involved are released, the edges
added, and the rows matched again, warm.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.solver.auction import match_tight, row_reduction
from tsnegrid.assign.solver.eps_auction import scaled_auction
from tsnegrid.assign.solver.flood import candidates
from tsnegrid.assign.solver.graph import (
    Lattice,
    merge_edges,
    row_of_edges,
    sorted_assignment,
    uncovered_column_edges,
)
from tsnegrid.assign.solver.implicit_auction import implicit_auction
from tsnegrid.assign.solver.reverse_lap import augment_back, by_column
from tsnegrid.assign.solver.sparse_lap import ABORTED, DUMMY, FREE, augment_rows

BID_BUDGET = 2  # zero-margin bids per free row before shortest augmenting paths take over
# (two passes, as in Jonker-Volgenant: more bids end in price wars among ties that cost more
# than the augmenting paths they save)
AUCTION_EPS = (1.0, 0.01)  # first and last auction margin, in squared node spacings
K_REVERSE = 8  # nearest points given to a node that no candidate list holds
AUCTION_BUDGET = 100  # bids per point and auction phase before the phase gives up
# Share of the rows an auction phase before the last may leave waiting once its bids stop
# clearing them fast (full lattices only: there the exact phase starts from the auction's
# matching, while with empty cells it starts from the potentials alone, which the tail sharpens)
AUCTION_TAIL = 5e-4
STALL_SHARE = 1e-3  # rows the sparse auction may leave waiting before the implicit one runs
STALL_MIN = 10  # ... and at least this many (a few stuck rows are cheap to augment)
SCAN_LIMIT = (1024, 1 / 256)  # columns (at least, share of M) a forward search scans, then waits
K_IMPLICIT = 96  # nodes cached per point by the implicit auction (fewer searches)
K_SETTLED = 24  # candidates per point under the implicit auction's (accurate) potentials
K_REFLOOD = 32  # ... and under the sparse auction's (it ran on lists from rougher ones)
IMPLICIT_EPS0 = 4.0  # its first margin, in squared node spacings (it starts from rougher prices)
IMPLICIT_FACTOR = 10.0  # its margin shrinks this much per phase (4, 0.4, 0.04: fewer, cheaper)


@nb.njit(cache=True)
def _row_minima(rows, indptr, indices, costs, v, t, col_dummy):  # type: ignore[no-untyped-def]
    """(len(rows),) min over each row's edges of ``c_ij - v_j``, and the column attaining it."""
    best = np.full(len(rows), np.inf)
    arg = np.full(len(rows), -1, dtype=np.int64)
    for a in range(len(rows)):
        i = rows[a]
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            val = costs[e] - (t if col_dummy[j] else v[j])
            if val < best[a]:
                best[a] = val
                arg[a] = j
    return best, arg


@nb.njit(cache=True)
def _raise_free_columns(indices, costs, erow, u, v, t, row4col, ready):  # type: ignore[no-untyped-def]
    """Raise each free column's potential to the most that keeps its edges feasible, at most
    ``t``: ``v_k = min(t, min_i c_ik - u_i)``; return how many rose.

    A free column holds no row, so nothing else binds it. A search ends at a free column at the
    length of its path, and everything nearer is scanned: a free column left low (in an empty
    region, where no point bid for it) makes the search that reaches it scan nearly the whole
    graph. The rows with an edge into a raised column are marked unsorted (their sort keys
    assumed that potentials only fall).
    """
    reach = np.full(len(v), np.inf)
    for e in range(len(indices)):
        k = indices[e]
        if row4col[k] == FREE:
            reach[k] = min(reach[k], costs[e] - u[erow[e]])
    raised = 0
    for k in range(len(v)):
        if row4col[k] == FREE and min(t, reach[k]) > v[k]:
            v[k] = min(t, reach[k])
            raised += 1
    if raised:
        for e in range(len(indices)):
            if row4col[indices[e]] == FREE:
                ready[erow[e]] = False
    return raised


def _own_nodes(owner: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """(n,) the auction's node of each point, -1 where it has none."""
    own = np.full(n, -1, dtype=np.int64)
    real = np.flatnonzero((owner >= 0) & (owner < n))
    own[owner[real]] = real
    return own


def _graph(lat: Lattice, v: NDArray, k: int, feasible: NDArray, own: NDArray | None = None):  # type: ignore[no-untyped-def]
    """CSR of each point's ``k`` candidate nodes under ``v``, its ``feasible`` node, its ``own``
    node (where not -1) and the edges that reach the nodes no list covers.

    A point's flood starts from its ``own`` node where it has one: the auction left it within a
    margin of the point's best (see :func:`.flood.candidates` for the others).
    """
    rows, cols = np.arange(lat.n), feasible
    if own is not None:
        kept = np.flatnonzero(own >= 0)
        rows, cols = np.concatenate([rows, kept]), np.concatenate([cols, own[kept]])
    indptr, indices = merge_edges(*candidates(lat, v, k, own), rows, cols, lat.m, lat.threads)
    rows_add, cols_add = uncovered_column_edges(lat, indices, K_REVERSE)
    return merge_edges(indptr, indices, rows_add, cols_add, lat.m, lat.threads)


def _refine(lat: Lattice, v: NDArray, k: int, feasible: NDArray, implicit: bool):  # type: ignore[no-untyped-def]
    """Potentials from the sparse auction, or where it stalls (or ``implicit``), the implicit one.

    Returns the potentials, (M,) the auction's row of each node (-1: none, ``n`` and up: dummy
    rows), the candidate graph under the new potentials, and whether the implicit auction ran.
    A stall (more than ``STALL_SHARE`` of the rows, and more than ``STALL_MIN``, left waiting)
    means that the candidate lists miss the nodes a cluster needs; the sparse auction's prices
    are then far off, so the implicit auction starts again from ``v``.
    """
    h2 = lat.spacing**2
    eps0, eps1 = AUCTION_EPS[0] * h2, AUCTION_EPS[1] * h2
    budget = AUCTION_BUDGET * lat.n
    if not implicit:
        indptr, indices = _graph(lat, v, k, feasible)
        costs = lat.costs(row_of_edges(indptr), indices)
        sparse_v = v.copy()
        tail = AUCTION_TAIL if lat.m == lat.n else 0.0
        owner = scaled_auction(
            indptr,
            indices,
            costs,
            sparse_v,
            eps0,
            eps1,
            budget,
            tail_share=tail,
            threads=lat.threads,
        )
        stalled = np.count_nonzero(owner < 0) > max(STALL_MIN, STALL_SHARE * len(owner))
        if not stalled:
            own = _own_nodes(owner, lat.n)
            graph = _graph(lat, sparse_v, min(k, K_REFLOOD), feasible, own)
            return sparse_v, owner, graph, False
    v, owner = implicit_auction(
        lat, v, K_IMPLICIT, IMPLICIT_EPS0 * h2, eps1, budget, IMPLICIT_FACTOR
    )
    own = _own_nodes(owner, lat.n)  # the auction's node of each point, kept as an edge
    return v, owner, _graph(lat, v, min(k, K_SETTLED), feasible, own), True


class SparseProblem:
    """Candidate graph, matching and dual potentials of one ``rows x cols`` problem."""

    def __init__(self, lat: Lattice, v: NDArray[np.float64], t: float, hub: NDArray[np.int64]):
        self.lat = lat
        self.v = v
        self.tval = np.array([t])
        self.hub_cols = hub
        self.col_dummy = np.zeros(lat.m, dtype=np.bool_)
        self.row4col = np.full(lat.m, FREE, dtype=np.int64)
        self.col4row = np.full(lat.n, -1, dtype=np.int64)
        self.u = np.zeros(lat.n)
        self.indptr = np.zeros(lat.n + 1, dtype=np.int64)
        self.indices = np.zeros(0, dtype=np.int64)
        self.costs = np.zeros(0)
        self.erow = np.zeros(0, dtype=np.int64)
        self.skey = np.zeros(0)
        self.ready = np.zeros(lat.n, dtype=np.bool_)  # rows whose edges are sorted by skey
        self.implicit = False  # whether the implicit auction refined the starting potentials

    @classmethod
    def start(
        cls, lat: Lattice, v0: NDArray[np.float64], k: int, implicit: bool = False
    ) -> SparseProblem:
        """Build the graph from ``v0`` (shape ``(M,)``), refine, match, then augment the rest.

        Each point gets its ``k`` candidate nodes under ``v0`` plus its edge of a feasible sorting
        assignment. A scaled auction then moves the potentials most of the way, cheaply (on the
        full implicit problem where the sparse one stalls or ``implicit`` asks, see
        :func:`_refine`), and the candidates are found again under its potentials (the exact
        phase then needs few certification rounds). Without empty cells the auction's exactly
        tight pairs are kept (:func:`.auction.match_tight`): row reduction from scratch would
        leave its free nodes together, far from the free points, and every augmenting path long.
        """
        v = v0 - v0.max()  # potentials are defined up to a constant; keep them near zero
        feasible = sorted_assignment(lat)
        held = np.zeros(0, dtype=np.int64)
        owner = np.full(lat.m, -1, dtype=np.int64)
        if lat.m > 1:
            v, owner, (indptr, indices), implicit = _refine(lat, v, k, feasible, implicit)
            held = np.flatnonzero(owner >= lat.n)
        else:
            indptr, indices = _graph(lat, v, k, feasible)
        prob = cls._with_dummies(lat, v, feasible, held)
        prob.implicit = implicit
        prob.set_edges(indptr, indices)
        every = np.arange(lat.n, dtype=np.int64)
        prob.u, _ = _row_minima(
            every, prob.indptr, prob.indices, prob.costs, prob.v, prob.t, prob.col_dummy
        )
        if lat.m == lat.n:  # no hub: keep the auction's tight pairs, augment next to them
            graph = (prob.indptr, prob.indices, prob.costs)
            match_tight(owner, graph, prob.u, prob.v, prob.row4col, prob.col4row)
            prob.augment(np.flatnonzero(prob.col4row < 0))
        else:
            prob.settle(every)
        return prob

    @classmethod
    def _with_dummies(cls, lat: Lattice, v: NDArray, feasible: NDArray, held: NDArray):  # type: ignore[no-untyped-def]
        """A problem whose ``M - n`` dummy rows hold the columns ``held`` by the auction's dummies.

        (The columns of highest potential when the auction did not place all of them.) All
        potentials are clipped to the dummy level ``t`` (lowering a potential keeps every
        edge feasible), so every dummy-held column has the largest potential, as optimality
        requires. The hub reaches them and the columns the feasible assignment leaves free. The
        masked nodes of a masked lattice are always among them.
        """
        n_dummy = lat.m - lat.n
        if n_dummy == 0:
            return cls(lat, v, float(v.max()), np.zeros(0, dtype=np.int64))
        if lat.masked:  # the masked nodes are dummy-held, at the dummy level t
            off = np.flatnonzero(~lat.usable)
            v[off] = np.inf
            held = np.union1d(held, off)
        empty = held if len(held) == n_dummy else np.argsort(-v, kind="stable")[:n_dummy]
        t = float(v[empty].min())
        if not np.isfinite(t):  # every usable node is taken: t is the top usable potential
            t = float(v[np.isfinite(v)].max())
        np.minimum(v, t, out=v)
        hub = np.ones(lat.m, dtype=np.bool_)
        hub[feasible] = False
        hub[empty] = True
        prob = cls(lat, v, t, np.flatnonzero(hub).astype(np.int64))
        prob.col_dummy[empty] = True
        prob.row4col[empty] = DUMMY
        return prob

    @property
    def t(self) -> float:
        """The potential shared by every dummy-held column (the dummy rows' dual is ``-t``)."""
        return float(self.tval[0])

    def set_edges(self, indptr: NDArray[np.int64], indices: NDArray[np.int64]) -> None:
        """Install a new edge set (each row is sorted when a search first reaches it)."""
        lat = self.lat
        self.erow = row_of_edges(indptr)
        self.costs = lat.costs(self.erow, indices)
        self.indptr, self.indices = indptr, indices
        self.skey = np.empty(len(indices))
        self.ready[:] = False

    def settle(self, free_rows: NDArray[np.int64]) -> None:
        """Match ``free_rows``: cheap bids first, then exact shortest augmenting paths."""
        graph = (self.indptr, self.indices, self.costs)
        state = (self.u, self.v, self.t, self.col_dummy, self.row4col, self.col4row)
        row_reduction(free_rows, graph, state, BID_BUDGET * len(free_rows))
        self.open_free_columns()
        self.augment(np.flatnonzero(self.col4row < 0))

    def open_free_columns(self) -> None:
        """Give the hub an edge to every free column, its potential at the most that its edges
        and the hub allow (see :func:`_raise_free_columns`).

        The dummy rows reach every node at zero cost, so these are edges of the full problem.
        Without them a column that the bids left free in an empty region (the lattice's corners,
        the gaps between clusters) is reachable only through long edges from far points, and
        each augmenting path to it searches the whole graph; with them a dummy row moves there
        from a nearby empty cell. A free column's potential is first lowered to ``t`` (which
        keeps every edge feasible), then raised as far as its edges allow: at 70,000 t-SNE
        points on 265 x 265 cells, the last augmenting path went through the hub to a free
        column left low, scanned the whole graph and took 1.6 s of the 1.9 s of all 893; 0.4 s
        after the raise, the same assignment.
        """
        if self.lat.m == self.lat.n:
            return
        free = np.flatnonzero(self.row4col == FREE)
        if len(free):
            self.v[free] = np.minimum(self.v[free], self.t)
            self.hub_cols = np.union1d(self.hub_cols, free).astype(np.int64)
            _raise_free_columns(
                self.indices,
                self.costs,
                self.erow,
                self.u,
                self.v,
                self.t,
                self.row4col,
                self.ready,
            )

    def augment(self, free_rows: NDArray[np.int64]) -> None:
        graph = (
            self.indptr,
            self.indices,
            self.costs,
            self.erow,
            self.skey,
            self.hub_cols,
            self.ready,
        )
        state = (self.u, self.v, self.tval, self.col_dummy, self.row4col, self.col4row)
        m = self.lat.m
        limit = max(SCAN_LIMIT[0], int(SCAN_LIMIT[1] * m))
        failed = augment_rows(np.asarray(free_rows, dtype=np.int64), graph, state, limit)
        if failed == ABORTED:  # the free columns lie far from the free rows: search from them
            cols = by_column(self.indices, self.erow, self.costs, m)
            failed = augment_back(graph, cols, state, FREE)
        if failed:  # the sorted-assignment edges make this impossible; guard the invariant
            raise RuntimeError(f"sparse assignment found no augmenting path for {failed} rows")

    def full_potentials(self) -> NDArray[np.float64]:
        """(M,) node potentials with the dummy-held columns at ``t``."""
        return np.where(self.col_dummy, self.t, self.v)

    def repair(self, rows: NDArray[np.int64], cols: NDArray[np.int64], hub: NDArray[np.int64]):  # type: ignore[no-untyped-def]
        """Add the violating edges ``(rows[e], cols[e])`` and hub columns ``hub``; re-match warm.

        Each violating pair is fixed on one side. Row side: the row is unmatched and its potential
        recomputed over its edges, new ones included. Column side, when the column has more
        violating pairs than the row (a stale high potential attracting many points): the column
        potential is lowered until all its pairs are feasible and its holder is unmatched. A new
        hub column is lowered to ``t`` the same way. Lowering a column potential only raises
        other reduced costs, so all invariants hold again before the rows are re-matched.
        """
        lat = self.lat
        by_col = np.bincount(cols, minlength=lat.m)[cols] > np.bincount(rows, minlength=lat.n)[rows]
        by_col &= ~self.col_dummy[cols]  # dummy-held columns share t; fix those on the row side
        cost = lat.costs(rows[by_col], cols[by_col])
        lowered = self.v.copy()
        np.minimum.at(lowered, cols[by_col], cost - self.u[rows[by_col]])
        lowered[hub] = np.minimum(lowered[hub], self.t)
        moved = np.flatnonzero(lowered < self.v)
        self.v[moved] = lowered[moved]
        self.hub_cols = np.union1d(self.hub_cols, hub).astype(np.int64)
        owners = self.row4col[moved]
        freed = np.union1d(rows[~by_col], owners[owners >= 0]).astype(np.int64)
        if len(rows):
            merged = merge_edges(self.indptr, self.indices, rows, cols, lat.m, lat.threads)
            self.set_edges(*merged)
        self.row4col[self.col4row[freed]] = FREE
        self.col4row[freed] = -1
        self.u[freed], _ = _row_minima(
            freed, self.indptr, self.indices, self.costs, self.v, self.t, self.col_dummy
        )
        self.settle(freed)
