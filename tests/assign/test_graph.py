"""The candidate graph's edge merge: each row's edges in order, each column once, on any split."""

from __future__ import annotations

import numpy as np
import pytest

from tsnegrid.assign.solver import graph
from tsnegrid.assign.solver.graph import merge_edges


def reference_merge(
    indptr: np.ndarray, indices: np.ndarray, add_rows: np.ndarray, add_cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row by row: the row's own columns, then the added ones in the order given, first
    occurrence kept."""
    n = len(indptr) - 1
    lists = [list(indices[indptr[i] : indptr[i + 1]]) for i in range(n)]
    for r, c in zip(add_rows, add_cols, strict=True):
        lists[r].append(c)
    out = [list(dict.fromkeys(row)) for row in lists]
    ptr = np.concatenate([[0], np.cumsum([len(row) for row in out])])
    flat = np.array([j for row in out for j in row], dtype=np.int64)
    return ptr, flat


@pytest.mark.parametrize("seed", range(3))
def test_merge_matches_a_direct_merge_on_any_split(monkeypatch, seed: int) -> None:
    monkeypatch.setattr(graph, "MERGE_BLOCK", 3)  # rows really split between threads
    rng = np.random.default_rng(seed)
    n, m = 57, 40
    counts = rng.integers(0, 6, n)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = rng.integers(0, m, indptr[-1]).astype(np.int64)  # repeats within a row too
    add_rows = rng.integers(0, n, 120).astype(np.int64)
    add_cols = rng.integers(0, m, 120).astype(np.int64)
    want = reference_merge(indptr, indices, add_rows, add_cols)
    for threads in (1, 2, 3):
        got = merge_edges(indptr, indices, add_rows, add_cols, m, threads)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_merge_of_nothing_is_empty() -> None:
    indptr = np.zeros(5, dtype=np.int64)
    none = np.zeros(0, dtype=np.int64)
    got = merge_edges(indptr, none, none, none, 3, 2)
    assert np.array_equal(got[0], indptr) and len(got[1]) == 0
