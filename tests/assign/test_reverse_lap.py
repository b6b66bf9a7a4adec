"""Tests of the backward searches' view of the graph by columns."""

from __future__ import annotations

import numpy as np

from tsnegrid.assign.solver.graph import row_of_edges
from tsnegrid.assign.solver.reverse_lap import by_column


def test_by_column_lists_each_columns_rows_and_costs_in_edge_order() -> None:
    rng = np.random.default_rng(5)
    n, m = 30, 12
    counts = rng.integers(1, 6, n)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.concatenate([rng.choice(m, c, replace=False) for c in counts]).astype(np.int64)
    erow = row_of_edges(indptr)
    costs = rng.random(len(indices))
    colptr, rows, cost = by_column(indices, erow, costs, m)
    assert rows.dtype == np.int32 and colptr[-1] == len(indices)
    for j in range(m):
        edges = np.flatnonzero(indices == j)  # the CSR edges into column j, in order
        assert rows[colptr[j] : colptr[j + 1]].tolist() == erow[edges].tolist()
        assert cost[colptr[j] : colptr[j + 1]].tolist() == costs[edges].tolist()
