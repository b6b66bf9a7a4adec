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
            reduced = _scores_from_gram(_wide(x), k, blocks, pool)
        else:
            # The mean on a worker beside the first blocks' products (the same sum as ever).
            mean_job = submit(pool, np.mean, x, 0, np.float64)
            grams = [submit(pool, _gram, x, rows) for rows in blocks]
            if n < 2 or not any(gram.result()[1] for gram in grams):
                return np.zeros((n, k))  # no variance: every projection is 0
            mean: NDArray[np.float64] = np.asarray(mean_job.result())
            axes = _top_axes(_covariance([gram.result()[0] for gram in grams], mean, n), k)
            centre = mean[None, :] @ axes  # subtracted after projecting
            reduced = np.empty((n, k))
            for job in [submit(pool, _project, x, axes, centre, rows, reduced) for rows in blocks]:
                job.result()
        return _fix_signs(reduced, blocks, pool)


def _wide(x: NDArray[np.floating]) -> NDArray[np.float64]:
    return x.astype(np.float64, copy=False)


def _covariance(
    grams: list[NDArray[np.float64]], mean: NDArray[np.float64], n: int
) -> NDArray[np.float64]:
    """(d, d) covariance from the blocks' uncentred Gram matrices (no centred copy of x)."""
    cov = grams[0]
    for gram in grams[1:]:
        cov += gram
    cov -= n * mean[:, None] * mean[None, :]
    cov /= n - 1
    return cov


def _varies(x: NDArray[np.floating], blocks: list[slice], pool: Pool) -> bool:
    """Whether any row differs from the first, block by block on the pool."""
    return any(job.result() for job in [submit(pool, _block_varies, x, rows) for rows in blocks])


def _block_varies(x: NDArray[np.floating], rows: slice) -> bool:
    return bool(np.any(x[rows] != x[:1]))


def _top_axes(cov: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """(d, k) eigenvectors of the ``k`` largest eigenvalues, largest first.

    All of them, by numpy's divide and conquer: LAPACK's drivers for a subset (``evr``,
    ``evx``) were slower on a 3,072 x 3,072 covariance (the top 100 of 32-pixel RGB
    thumbnails), and threads of BLAS's own would change the last bits with their number.
    """
    _, vectors = np.linalg.eigh(cov)  # eigenvalues ascending
    return np.ascontiguousarray(vectors[:, ::-1][:, :k])


def _scores_from_gram(
    x: NDArray[np.float64], k: int, blocks: list[slice], pool: Pool
) -> NDArray[np.float64]:
    """PCA scores from the small side when there are fewer rows than features: the (n, n)
    Gram matrix of the centred rows has the same nonzero eigenvalues as the covariance, and
    its eigenvectors times their singular values are the scores (66 images of 3,072 features:
    milliseconds instead of a 3,072 x 3,072 eigendecomposition)."""
    centred = x - np.mean(x, axis=0)
    gram = np.empty((len(x), len(x)))
    for job in [submit(pool, _gram_rows, centred, rows, gram) for rows in blocks]:
        job.result()
    values, vectors = np.linalg.eigh(gram)  # ascending
    top = np.arange(len(values) - 1, len(values) - 1 - k, -1)  # largest first
    return vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None))


def _gram_rows(x: NDArray[np.float64], rows: slice, out: NDArray[np.float64]) -> None:
    np.matmul(x[rows], x.T, out=out[rows])


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
