import numba
import numpy as np

from tsnegrid.runtime.prefetch import LINE_FLOATS, prefetch, prefetch_at


@numba.njit
def _gather_sum(x, order):
    """Rows of ``x`` in ``order``, each summed, the row two ahead asked for first."""
    out = np.zeros(len(order))
    for a in range(len(order)):
        if a + 2 < len(order):
            for k in range(0, x.shape[1], LINE_FLOATS):
                prefetch(x, order[a + 2], k)
        for k in range(x.shape[1]):
            out[a] += x[order[a], k]
    return out


def test_prefetch_compiles_under_this_llvm_and_changes_no_value() -> None:
    """The intrinsic lowers to LLVM's prefetch under the installed llvmlite (its pointer
    types differ between versions) on C and strided arrays, and reads stay what they were."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 20))
    order = rng.permutation(50)
    expected = np.array([sum(x[i, k] for k in range(20)) for i in order])
    assert np.array_equal(_gather_sum(x, order), expected)
    strided = np.asfortranarray(x)[:, ::2]
    expected = np.array([sum(strided[i, k] for k in range(10)) for i in order])
    assert np.array_equal(_gather_sum(strided, order), expected)


@numba.njit
def _edges_sum(indptr, values, rows):
    """Each row's CSR values summed, the next row's asked for first (1-D prefetches)."""
    out = np.zeros(len(rows))
    for a in range(len(rows)):
        if a + 1 < len(rows):
            for e in range(indptr[rows[a + 1]], indptr[rows[a + 1] + 1], LINE_FLOATS):
                prefetch_at(values, e)
        for e in range(indptr[rows[a]], indptr[rows[a] + 1]):
            out[a] += values[e]
    return out


def test_prefetch_at_compiles_for_1d_arrays_and_changes_no_value() -> None:
    rng = np.random.default_rng(1)
    indptr = np.concatenate([[0], np.cumsum(rng.integers(0, 30, size=40))])
    values = rng.normal(size=indptr[-1])
    rows = rng.permutation(40)
    expected = np.array([values[indptr[r] : indptr[r + 1]].sum() for r in rows])
    np.testing.assert_allclose(_edges_sum(indptr, values, rows), expected, rtol=1e-12)
