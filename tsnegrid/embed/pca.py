"""Pixels to features: flattening and PCA.

Pure functions of arrays and keyword-only parameters; nothing here reads a file or prints.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from tsnegrid.runtime.workers import single_thread_blas, submit, worker_pool

Pool = ThreadPoolExecutor | None


def pixel_features(pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Flatten images and scale them to [0, 1].

    Parameters
    ----------
    pixels : (n, h, w) or (n, h, w, c) uint8.

    Returns
    -------
    (n, h*w[*c]) float32 in [0, 1].
    """
    flat = pixels.reshape(len(pixels), -1)
    return flat.astype(np.float32) / np.float32(255.0)


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
    if n < 2 or not np.any(features != features[:1]):
        return np.zeros((n, k))  # no variance: every projection is 0
    # float32 pixels stay float32: each block is widened to float64 where it is used (a float64
    # copy of a million 28 x 28 images would take 6.3 GB); the values are the same.
    x = features
    blocks = [slice(lo, lo + _PCA_BLOCK_ROWS) for lo in range(0, n, _PCA_BLOCK_ROWS)]
    with single_thread_blas(), worker_pool(threads) as pool:
        if n < d:
            return _fix_signs(_scores_from_gram(_wide(x), k, blocks, pool))
        mean: NDArray[np.float64] = np.asarray(np.mean(x, axis=0, dtype=np.float64))
        axes = _top_axes(_covariance(x, mean, blocks, pool), k)
        reduced = np.empty((n, k))
        for job in [submit(pool, _project, x, axes, rows, reduced) for rows in blocks]:
            job.result()
        reduced -= mean[None, :] @ axes  # centre after projecting
    return _fix_signs(reduced)


def _wide(x: NDArray[np.floating]) -> NDArray[np.float64]:
    return x.astype(np.float64, copy=False)


def _covariance(
    x: NDArray[np.floating], mean: NDArray[np.float64], blocks: list[slice], pool: Pool
) -> NDArray[np.float64]:
    """(d, d) covariance from the uncentred Gram matrix (no centred copy of x), float64."""
    grams = [submit(pool, _gram, x[rows]) for rows in blocks]
    cov = grams[0].result()
    for gram in grams[1:]:
        cov += gram.result()
    cov -= len(x) * mean[:, None] * mean[None, :]
    cov /= len(x) - 1
    return cov


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


def _gram(rows: NDArray[np.floating]) -> NDArray[np.float64]:
    wide = _wide(rows)
    return wide.T @ wide


def _project(
    x: NDArray[np.floating], axes: NDArray[np.float64], rows: slice, out: NDArray[np.float64]
) -> None:
    np.matmul(_wide(x[rows]), axes, out=out[rows])


def _fix_signs(reduced: NDArray[np.float64]) -> NDArray[np.float64]:
    """Flip each component so its largest-magnitude score is positive (a stable convention)."""
    idx = np.abs(reduced).argmax(axis=0)
    signs = np.sign(reduced[idx, np.arange(reduced.shape[1])])
    signs[signs == 0] = 1.0
    return reduced * signs
