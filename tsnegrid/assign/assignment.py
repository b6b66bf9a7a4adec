"""Exact assignment of 2-D points to the nodes of a regular grid, with a proof of optimality.

Each point gets its own node and the total squared displacement is minimal. Three solvers:

- ``"auto"``: our own (:mod:`tsnegrid.assign.solver`): coarse-to-fine potentials, a sparse candidate
  graph solved by shortest augmenting paths, certified over the full ``n x M`` problem by a
  max-pyramid branch and bound. Memory and time grow about linearly with ``n``.
- ``"scipy"``: :func:`scipy.optimize.linear_sum_assignment` on the dense ``n x M`` matrix.
- ``"lapjv"``: :func:`lapjv.lapjv` on a square matrix, as the src-d notebook does (zero-cost dummy
  rows for empty cells, costs scaled so that their maximum is 100,000, float32).

Every result carries ``cost`` recomputed in float64 from the points, and ``lower_bound`` from node
potentials ``v`` that are dual feasible for the full dense problem (see
:mod:`tsnegrid.assign.solver.certify`). ``optimal`` is
``cost - lower_bound <= OPTIMALITY_RTOL * scale`` with ``scale = cost + n * h**2`` (``h`` the node
spacing, so an assignment of cost zero is still judged on a meaningful scale). The dense peers
return no usable dual of their own (lapjv's is float32 and scaled), so their bound is the one our
solver certifies for the same problem: a bound on every assignment, theirs included. A mask
(``usable``) takes nodes out of the problem: our solver charges a penalty for them that no optimum
pays (see :mod:`tsnegrid.assign.solver.graph`), the dense peers drop their columns.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tsnegrid.assign.grid import cell_width, grid_nodes
from tsnegrid.assign.solver import solve_lattice
from tsnegrid.config import SolverName, choices
from tsnegrid.errors import UsageError
from tsnegrid.results import GridAssignment

Solver = SolverName
SOLVERS: tuple[str, ...] = choices(SolverName)

OPTIMALITY_RTOL = 1e-9  # relative gap under which an assignment counts as proven optimal
POINT_ATOL = 1e-9  # how far outside [0, 1] a coordinate may stray (min-max rounding)
LAPJV_SCALE = 100_000.0  # the notebook's scaling of the cost matrix for lapjv


def lapjv_available() -> bool:
    """Whether the optional ``lapjv`` package can be imported (x86-64 wheels only)."""
    try:
        import lapjv  # noqa: F401
    except ImportError:
        return False
    return True


def assign_to_grid(
    points: ArrayLike,
    rows: int,
    cols: int,
    *,
    solver: Solver = "auto",
    usable: ArrayLike | None = None,
    threads: int = 1,
) -> GridAssignment:
    """Assign each point to its own node of a ``rows x cols`` grid at minimal total cost.

    Parameters
    ----------
    points : (n, 2) coordinates (x, y) in [0, 1]^2; ``1 <= n <= rows * cols``.
    rows, cols : grid shape; node (r, c) sits at ``(c / (cols - 1), r / (rows - 1))`` and has
        index ``r * cols + c`` (a single row or column sits at 0).
    solver : ``"auto"`` (ours, exact and certified), ``"scipy"`` or ``"lapjv"`` (dense peers).
    usable : (rows * cols,) or (rows, cols) bool, the nodes that may take a point (a disc, a
        logo); at least ``n`` of them. None: every node. Masked nodes are absent from the
        problem: the cost, the optimum and the lower bound are those of the usable nodes.
    threads : worker threads for our solver's per-point kernels; the result (nodes, cost,
        bound) is the same for any number.

    Returns
    -------
    GridAssignment with the nodes, the cost (squared distance units of the unit square), the
    certified lower bound and whether the two meet.

    Raises
    ------
    UsageError
        When an argument is invalid, the mask leaves fewer usable cells than points, or
        ``solver="lapjv"`` and lapjv is not installed.
    """
    pts = _check_points(points, rows, cols)
    _check_solver(solver)
    mask = _check_usable(usable, len(pts), rows, cols)
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise UsageError(f"threads={threads!r} is not a positive integer; pass threads >= 1")
    if solver == "auto":
        sol = solve_lattice(pts, rows, cols, mask, int(threads))
        node, bound = sol.node_of_point, sol.lower_bound
    else:
        dense = dense_scipy if solver == "scipy" else dense_lapjv
        node = dense(pts, rows, cols, mask)
        bound = solve_lattice(pts, rows, cols, mask, int(threads)).lower_bound
    if mask is not None and not mask[node].all():  # the penalty makes this impossible
        raise RuntimeError("the assignment put a point on a masked node")
    cost = assignment_cost(pts, node, rows, cols)
    ok = cost - bound <= OPTIMALITY_RTOL * (cost + len(pts) * cell_width(rows, cols) ** 2)
    return GridAssignment(node.astype(np.intp), rows, cols, cost, bound, bool(ok), solver)


def assignment_cost(
    points: NDArray[np.float64], node: NDArray[np.integer], rows: int, cols: int
) -> float:
    """Sum of squared distances from ``points`` (n, 2) to their nodes ``node`` (n,), float64."""
    return float(np.sum((points - grid_nodes(rows, cols)[node]) ** 2))


def dense_cost_matrix(points: NDArray[np.float64], rows: int, cols: int) -> NDArray[np.float64]:
    """(n, rows * cols) float64 squared distances from every point to every node."""
    nodes = grid_nodes(rows, cols)
    dx = points[:, 0, None] - nodes[None, :, 0]
    dy = points[:, 1, None] - nodes[None, :, 1]
    return dx * dx + dy * dy


def _usable_columns(rows: int, cols: int, usable: NDArray[np.bool_] | None) -> NDArray[np.intp]:
    """The node index of each column of a dense peer's matrix: the usable nodes, in order."""
    return np.arange(rows * cols) if usable is None else np.flatnonzero(usable)


def dense_scipy(
    points: NDArray[np.float64], rows: int, cols: int, usable: NDArray[np.bool_] | None = None
) -> NDArray[np.intp]:
    """(n,) nodes from :func:`scipy.optimize.linear_sum_assignment` on the dense matrix of the
    ``usable`` nodes ((rows * cols,) bool; None: all)."""
    from scipy.optimize import linear_sum_assignment

    nodes = _usable_columns(rows, cols, usable)
    _, col = linear_sum_assignment(dense_cost_matrix(points, rows, cols)[:, nodes])
    return nodes[col].astype(np.intp)


def dense_lapjv(
    points: NDArray[np.float64], rows: int, cols: int, usable: NDArray[np.bool_] | None = None
) -> NDArray[np.intp]:
    """(n,) nodes from :func:`lapjv.lapjv` on the notebook's square, scaled float32 matrix of
    the ``usable`` nodes ((rows * cols,) bool; None: all)."""
    from lapjv import lapjv

    nodes = _usable_columns(rows, cols, usable)
    n, m = len(points), len(nodes)
    square = np.zeros((m, m), dtype=np.float32)  # rows past n are the zero-cost dummy rows
    square[:n] = dense_cost_matrix(points, rows, cols)[:, nodes]
    top = float(square.max())
    if top > 0:
        square *= np.float32(LAPJV_SCALE / top)
    node_of_row, _, _ = lapjv(square)
    return nodes[np.asarray(node_of_row[:n], dtype=np.intp)]


def _check_usable(
    usable: ArrayLike | None, n: int, rows: int, cols: int
) -> NDArray[np.bool_] | None:
    """(rows * cols,) bool mask, or None when every node is usable (the unmasked problem)."""
    if usable is None:
        return None
    mask = np.asarray(usable)
    if (
        mask.dtype != np.bool_
        or mask.size != rows * cols
        or mask.ndim not in (1, 2)
        or (mask.ndim == 2 and mask.shape != (rows, cols))
    ):
        raise UsageError(
            f"usable has shape {mask.shape} and dtype {mask.dtype}; pass a bool array of shape "
            f"({rows * cols},) or ({rows}, {cols})"
        )
    count = int(mask.sum())
    if count < n:
        raise UsageError(
            f"the mask leaves {count} usable cells of the {rows}x{cols} grid for {n} images; "
            "use a larger grid or fewer images (--n)"
        )
    return None if count == rows * cols else np.ascontiguousarray(mask.ravel())


def _check_points(points: ArrayLike, rows: int, cols: int) -> NDArray[np.float64]:
    for name, value in (("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise UsageError(f"{name}={value!r} is not a positive integer; pass a grid size >= 1")
    try:
        pts = np.array(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError("points are not numeric; pass an (n, 2) array of floats") from None
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise UsageError(f"points has shape {pts.shape}; pass an (n, 2) array of (x, y)")
    n, m = len(pts), int(rows) * int(cols)
    if n < 1 or n > m:
        raise UsageError(
            f"points has {n} rows for a {rows}x{cols} grid of {m} cells; "
            "pass 1 to rows*cols points or enlarge the grid"
        )
    if not np.all(np.isfinite(pts)):
        raise UsageError("points contain NaN or inf; remove them or fix the embedding")
    if pts.min() < -POINT_ATOL or pts.max() > 1 + POINT_ATOL:
        raise UsageError(
            f"points span [{pts.min():.6g}, {pts.max():.6g}], outside [0, 1]; "
            "min-max normalise them per axis first"
        )
    return np.clip(pts, 0.0, 1.0)


def _check_solver(solver: str) -> None:
    if solver not in SOLVERS:
        raise UsageError(f"solver={solver!r} is unknown; use one of {', '.join(SOLVERS)}")
    if solver == "lapjv" and not lapjv_available():
        raise UsageError(
            "solver='lapjv' needs the lapjv package, which is not installed; "
            "run `pip install lapjv` (x86-64 only) or use --solver auto or --solver scipy"
        )
