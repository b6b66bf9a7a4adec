import numba
import numpy as np

from tsnegrid.runtime.prefetch import LINE_FLOATS, prefetch


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
