"""Pixels to features: flattening and PCA.

Pure functions of arrays and keyword-only parameters; nothing here reads a file or prints.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from tsnegrid.runtime.workers import run_ranges, single_thread_blas, submit, worker_pool

Pool = ThreadPoolExecutor | None


def pixel_features(pixels: NDArray[np.uint8], *, threads: int = 1) -> NDArray[np.float32]:
    """Flatten images and scale them to [0, 1].

    Parameters
    ----------
    pixels : (n, h, w) or (n, h, w, c) uint8.
    threads : worker threads, each scaling its own blocks of images (the same values).

    Returns
    -------
    (n, h*w[*c]) float32 in [0, 1].
    """
    flat = pixels.reshape(len(pixels), -1)
    out = np.empty(flat.shape, dtype=np.float32)
    # One pass, each thread touching its own rows (the first touch of fresh memory was most of
    # the time: 0.58 s on one thread for 70,000 images, in two passes).
    with worker_pool(threads) as pool:
        run_ranges(pool, len(flat), 1 if pool is None else _SCALE_PARTS, _scale, flat, out)
    return out


#: Blocks of images scaled as separate jobs on worker threads.
_SCALE_PARTS = 16


def _scale(flat: NDArray[np.uint8], out: NDArray[np.float32], lo: int, hi: int) -> None:
    # float32(p) / float32(255) in float32: the values of astype(np.float32) / np.float32(255).
    np.divide(flat[lo:hi], np.float32(255.0), out=out[lo:hi], dtype=np.float32)


def reduce_pca(
    features: NDArray[np.floating], *, n_components: int, seed: int, threads: int = 1
) -> NDArray[np.float64]:
    """Project features onto their first principal components.

    Uses the exact covariance eigendecomposition (the fastest exact solver for tall, narrow data
    such as 70,000 x 784): the steps of scikit-learn's ``PCA(svd_solver="covariance_eigh")``, so
    the scores are the ones it computes (to 1e-10, tested), without the cost of importing it.
    With fewer rows than features it works on the small side instead, the Gram matrix of the
    rows, with the same scores.
    Nothing is random; ``seed`` is accepted for a uniform stage signature. Each component's sign
    makes its largest-magnitude score positive.

    The matrix products run on one BLAS thread each, over fixed blocks of rows that ``threads``
    worker threads share and that are summed in block order: OpenBLAS's own threads would change
    the last bits with their number (and t-SNE magnifies them); these do not.

    Parameters
    ----------
    features : (n, d) floats.
    n_components : wanted dimensions; capped at min(n, d) (at least 1).
    threads : worker threads; the result is the same for any count.

    Returns
    -------
    (n, k) float64 with k = min(n_components, n, d).
    """
    n, d = features.shape
    k = max(1, min(n_components, n, d))
    # float32 pixels stay float32: each block is widened to float64 where it is used (a float64
    # copy of a million 28 x 28 images would take 6.3 GB); the values are the same.
    x = features
    blocks = [slice(lo, lo + _PCA_BLOCK_ROWS) for lo in range(0, n, _PCA_BLOCK_ROWS)]
    with single_thread_blas(), worker_pool(threads) as pool:
        if n < d:
            if n < 2 or not _varies(x, blocks, pool):
                return np.zeros((n, k))  # no variance: every projection is 0
            reduced = _scores_from_gram(_wide(x), k, pool)
        else:
            # The mean on a worker beside the first blocks' products (the same sum as ever).
            mean_job = submit(pool, np.mean, x, 0, np.float64)
            grams = [submit(pool, _gram, x, rows) for rows in blocks]
            if n < 2 or not any(gram.result()[1] for gram in grams):
                return np.zeros((n, k))  # no variance: every projection is 0
            mean: NDArray[np.float64] = np.asarray(mean_job.result())
            axes = _top_axes(_covariance([gram.result()[0] for gram in grams], mean, n, pool), k)
            centre = mean[None, :] @ axes  # subtracted after projecting
            reduced = np.empty((n, k))
            for job in [submit(pool, _project, x, axes, centre, rows, reduced) for rows in blocks]:
                job.result()
        return _fix_signs(reduced, blocks, pool)


def _wide(x: NDArray[np.floating]) -> NDArray[np.float64]:
    return x.astype(np.float64, copy=False)


def _covariance(
    grams: list[NDArray[np.float64]], mean: NDArray[np.float64], n: int, pool: Pool
) -> NDArray[np.float64]:
    """(d, d) covariance from the blocks' uncentred Gram matrices (no centred copy of x).

    Bands of rows are summed on the pool, each over the blocks in block order: the same sums
    for any number of threads (summing 18 blocks of 784 x 784 took 0.12 s on one thread).
    """
    cov = grams[0]
    run_ranges(pool, len(cov), _COVARIANCE_PARTS, _covariance_rows, grams, mean, n)
    return cov


#: Bands of the covariance's rows summed as separate jobs.
_COVARIANCE_PARTS = 8


def _covariance_rows(
    grams: list[NDArray[np.float64]], mean: NDArray[np.float64], n: int, lo: int, hi: int
) -> None:
    band = grams[0][lo:hi]
    for gram in grams[1:]:
        band += gram[lo:hi]
    band -= n * mean[lo:hi, None] * mean[None, :]
    band /= n - 1


def _varies(x: NDArray[np.floating], blocks: list[slice], pool: Pool) -> bool:
    """Whether any row differs from the first, block by block on the pool."""
    return any(job.result() for job in [submit(pool, _block_varies, x, rows) for rows in blocks])


def _block_varies(x: NDArray[np.floating], rows: slice) -> bool:
    return bool(np.any(x[rows] != x[:1]))


def _top_axes(cov: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """(d, k) eigenvectors of the ``k`` largest eigenvalues, largest first."""
    return np.ascontiguousarray(_top_eigen(cov, k)[1])


def _top_eigen(sym: NDArray[np.float64], k: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The ``k`` largest eigenvalues of a symmetric matrix and their eigenvectors (columns),
    largest first.

    For a few of many (``4 k <= d``) LAPACK's relatively robust representations (``evr``),
    which reduce to tridiagonal form as numpy's divide and conquer does but find only the wanted
    eigenpairs: 100 of 784 in 0.064 s instead of 0.087, of 2,000 in 0.64 s instead of 1.25, of
    3,072 in 2.2 s instead of 4.6 (one thread). For most of them numpy's is faster (100 of 300:
    0.007 s against 0.014). Both run on one BLAS thread: its threads change the last bits.
    """
    d = len(sym)
    if 4 * k <= d:
        from scipy.linalg import eigh

        values, vectors = eigh(
            sym, subset_by_index=[d - k, d - 1], driver="evr", overwrite_a=True, check_finite=False
        )  # ascending
    else:
        values, vectors = np.linalg.eigh(sym)  # ascending
        values, vectors = values[d - k :], vectors[:, d - k :]
    return values[::-1], vectors[:, ::-1]


def _scores_from_gram(x: NDArray[np.float64], k: int, pool: Pool) -> NDArray[np.float64]:
    """PCA scores from the small side when there are fewer rows than features: the (n, n)
    Gram matrix of the centred rows has the same nonzero eigenvalues as the covariance, and
    its eigenvectors times their singular values are the scores (66 images of 3,072 features:
    milliseconds instead of a 3,072 x 3,072 eigendecomposition).

    The rows are centred in bands and the Gram matrix is made in fixed square tiles on the
    pool, each below the diagonal the mirror of one above it: the same bits for any number of
    threads, and symmetric exactly.
    """
    n = len(x)
    mean = np.mean(x, axis=0)
    centred = np.empty_like(x)
    run_ranges(pool, n, _GRAM_PARTS, _centre_rows, x, mean, centred)
    gram = np.empty((n, n))
    tiles = [slice(lo, min(lo + _GRAM_TILE, n)) for lo in range(0, n, _GRAM_TILE)]
    pairs = [(a, b) for i, a in enumerate(tiles) for b in tiles[i:]]
    for job in [submit(pool, _gram_tile, centred, a, b, gram) for a, b in pairs]:
        job.result()
    values, vectors = _top_eigen(gram, k)
    return vectors * np.sqrt(np.clip(values, 0.0, None))


#: Bands of rows centred as separate jobs, and the side of the Gram matrix's tiles.
_GRAM_PARTS = 8
_GRAM_TILE = 512


def _centre_rows(
    x: NDArray[np.float64], mean: NDArray[np.float64], out: NDArray[np.float64], lo: int, hi: int
) -> None:
    np.subtract(x[lo:hi], mean, out=out[lo:hi])


def _gram_tile(x: NDArray[np.float64], a: slice, b: slice, out: NDArray[np.float64]) -> None:
    if a == b:
        rows = x[a]
        out[a, a] = rows @ rows.T  # symmetric: BLAS's syrk, half the work
    else:
        out[a, b] = x[a] @ x[b].T
        out[b, a] = out[a, b].T


#: Rows per block of PCA's products (fixed: the sums' order must not depend on the threads).
_PCA_BLOCK_ROWS = 4096


def _gram(x: NDArray[np.floating], rows: slice) -> tuple[NDArray[np.float64], bool]:
    """The block's Gram matrix (float64) and whether any of its rows differs from x's first."""
    wide = _wide(x[rows])
    return wide.T @ wide, _block_varies(x, rows)


def _project(
    x: NDArray[np.floating],
    axes: NDArray[np.float64],
    centre: NDArray[np.float64],
    rows: slice,
    out: NDArray[np.float64],
) -> None:
    np.matmul(_wide(x[rows]), axes, out=out[rows])
    out[rows] -= centre


def _fix_signs(
    reduced: NDArray[np.float64], blocks: list[slice], pool: Pool
) -> NDArray[np.float64]:
    """Flip each component so its largest-magnitude score is positive (a stable convention).

    The largest is the first one in row order, as ``argmax`` finds it: each block's is found on
    the pool and the blocks are compared in order, a later one winning only when larger.
    """
    jobs = [submit(pool, _block_peak, reduced[rows]) for rows in blocks]
    peak, value = jobs[0].result()
    for job in jobs[1:]:
        block_peak, block_value = job.result()
        later = block_peak > peak
        peak[later], value[later] = block_peak[later], block_value[later]
    signs = np.sign(value)
    signs[signs == 0] = 1.0
    reduced *= signs
    return reduced


def _block_peak(scores: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per column, the largest magnitude and the first score that has it."""
    at = np.abs(scores).argmax(axis=0)
    value = scores[at, np.arange(scores.shape[1])]
    return np.abs(value), value
