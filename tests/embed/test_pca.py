import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from tsnegrid.embed import pca
from tsnegrid.embed.pca import pixel_features, reduce_pca


@pytest.mark.parametrize("shape", [(66, 3072), (40, 300), (299, 300), (500, 600)])
def test_fewer_rows_than_features_give_scikit_learns_scores_from_the_small_side(shape, monkeypatch):
    from sklearn.decomposition import PCA

    x = (np.random.default_rng(7).random(shape) ** 3).astype(np.float32)
    k = min(100, shape[0])
    called = []
    monkeypatch.setattr(pca, "_covariance", lambda *a: called.append(a))  # must not be used
    ours = reduce_pca(x, n_components=100, seed=0)
    assert ours.shape == (shape[0], k) and not called
    theirs = PCA(n_components=k, svd_solver="covariance_eigh").fit_transform(x.astype(np.float64))
    signs = np.sign(theirs[np.abs(theirs).argmax(axis=0), np.arange(k)])
    # The centred rows have rank n - 1: with k = n the last component is rounding noise in both.
    real = k - 1 if k == shape[0] else k
    np.testing.assert_allclose(ours[:, :real], (theirs * signs)[:, :real], atol=1e-10)
    if k > real:
        assert np.abs(ours[:, real:]).max() < 1e-6


def test_the_small_side_is_the_same_whatever_the_threads(monkeypatch):
    monkeypatch.setattr(pca, "_PCA_BLOCK_ROWS", 64)  # several blocks of rows
    monkeypatch.setattr(pca, "_GRAM_TILE", 70)  # several tiles of the Gram matrix, one ragged
    x = np.random.default_rng(8).random((300, 400))
    with threadpool_limits(limits=2, user_api="blas"):
        one = reduce_pca(x, n_components=20, seed=0, threads=1)
        two = reduce_pca(x, n_components=20, seed=0, threads=2)
        three = reduce_pca(x, n_components=20, seed=0, threads=3)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, three)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_small_side_s_gram_tiles_make_the_whole_symmetric_product(threads, monkeypatch):
    monkeypatch.setattr(pca, "_GRAM_TILE", 7)  # 5 tiles of 7 rows and one of 2
    seen = []

    def capture(gram, k):
        seen.append(gram.copy())
        return np.ones(k), np.ones((len(gram), k))

    monkeypatch.setattr(pca, "_top_eigen", capture)
    x = np.random.default_rng(9).random((37, 50))
    reduce_pca(x, n_components=3, seed=0, threads=threads)
    (gram,) = seen
    centred = x - x.mean(axis=0)
    np.testing.assert_array_equal(gram, gram.T)
    np.testing.assert_allclose(gram, centred @ centred.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "k", "subset"),
    [((200, 50), 25, False), ((40, 40), 25, False), ((200, 100), 25, True), ((300, 300), 3, True)],
)
def test_top_axes_are_numpys_leading_eigenvectors_largest_first(shape, k, subset, monkeypatch):
    # Up to a quarter of the eigenpairs (4 k <= d) come from LAPACK's subset driver, more from
    # numpy's solver: both give numpy's values and vectors, largest first.
    x = np.random.default_rng(11).random(shape)
    sym = x.T @ x
    want_values, want_vectors = np.linalg.eigh(sym)
    numpy_calls = []
    numpy_eigh = np.linalg.eigh

    def counted(a):
        numpy_calls.append(1)
        return numpy_eigh(a)

    monkeypatch.setattr(np.linalg, "eigh", counted)
    values, vectors = pca._top_eigen(sym.copy(), k)
    assert bool(numpy_calls) is not subset
    np.testing.assert_allclose(values, want_values[::-1][:k], rtol=1e-10)
    # Each eigenvector up to its sign.
    want = want_vectors[:, ::-1][:, :k]
    signs = np.sign(np.sum(vectors * want, axis=0))
    np.testing.assert_allclose(vectors * signs, want, atol=1e-8)
    axes = pca._top_axes(sym.copy(), k)
    assert axes.flags.c_contiguous
    np.testing.assert_allclose(np.abs(axes), np.abs(vectors), atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_covariance_is_summed_in_block_order_whatever_the_threads(threads, monkeypatch):
    from tsnegrid.runtime.workers import worker_pool

    monkeypatch.setattr(pca, "_COVARIANCE_PARTS", 3)  # bands of 7, 6 and 7 rows
    rng = np.random.default_rng(12)
    grams = [rng.random((20, 20)) for _ in range(4)]
    mean = rng.random(20)
    want = grams[0].copy()
    for gram in grams[1:]:
        want += gram
    want -= 50 * mean[:, None] * mean[None, :]
    want /= 49
    with worker_pool(threads) as pool:
        cov = pca._covariance([gram.copy() for gram in grams], mean, 50, pool)
    np.testing.assert_array_equal(cov, want)


def test_pixel_features_flatten_and_scale():
    pixels = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    feats = pixel_features(pixels)
    assert feats.dtype == np.float32
    np.testing.assert_allclose(feats, [[0.0, 1.0, 0.2, 0.4]], rtol=1e-6)


@pytest.mark.parametrize("shape", [(40, 16, 16), (7, 5, 5, 3)])
def test_pixel_features_are_the_same_scaled_on_worker_threads(shape):
    pixels = np.resize(np.arange(256, dtype=np.uint8), shape)  # every value, more than one block
    expected = pixels.reshape(len(pixels), -1).astype(np.float32) / np.float32(255.0)
    for threads in (1, 2, 3):
        feats = pixel_features(pixels, threads=threads)
        assert feats.dtype == np.float32
        np.testing.assert_array_equal(feats.view(np.uint32), expected.view(np.uint32))


def test_pca_caps_components_at_the_data_and_is_deterministic():
    x = np.random.default_rng(0).random((20, 7))
    a = reduce_pca(x, n_components=100, seed=1)
    b = reduce_pca(x, n_components=100, seed=2)
    assert a.shape == (20, 7)
    np.testing.assert_allclose(a, b)
    # components are ordered by variance
    assert np.all(np.diff(a.var(axis=0)) <= 1e-12)


def test_pca_gives_scikit_learns_covariance_eigh_scores():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(3).random((300, 40)).astype(np.float32) ** 3
    ours = reduce_pca(x, n_components=10, seed=0)
    theirs = PCA(n_components=10, svd_solver="covariance_eigh").fit_transform(x.astype(np.float64))
    signs = np.sign(theirs[np.abs(theirs).argmax(axis=0), np.arange(10)])
    np.testing.assert_allclose(ours, theirs * signs, rtol=1e-10, atol=1e-12)
    assert np.all(ours[np.abs(ours).argmax(axis=0), np.arange(10)] > 0)


def test_pca_is_the_same_whatever_the_threads_of_ours_or_of_blas():
    from threadpoolctl import threadpool_limits

    # Big enough for OpenBLAS to use its threads (whose count changes its last bits), and more
    # rows than one block.
    x = np.random.default_rng(5).integers(0, 256, (9000, 300)).astype(np.float32) / 255
    with threadpool_limits(limits=1, user_api="blas"):
        one = reduce_pca(x, n_components=50, seed=0, threads=1)
    with threadpool_limits(limits=2, user_api="blas"):
        two = reduce_pca(x, n_components=50, seed=0, threads=2)
        three = reduce_pca(x, n_components=50, seed=0, threads=3)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, three)


@pytest.mark.parametrize("threads", [1, 2])
def test_each_sign_is_set_by_the_first_largest_score_across_blocks(threads):
    from tsnegrid.runtime.workers import worker_pool

    scores = np.zeros((10, 3))
    scores[1] = [5.0, -1.0, 0.0]  # block 0
    scores[7] = [-5.0, -1.0, 2.0]  # block 2: ties the first column, larger in the third
    scores[8, 1] = 0.5
    blocks = [slice(lo, lo + 3) for lo in range(0, 10, 3)]
    with worker_pool(threads) as pool:
        fixed = pca._fix_signs(scores.copy(), blocks, pool)
    first_largest = scores[np.abs(scores).argmax(axis=0), np.arange(3)]
    np.testing.assert_array_equal(fixed, scores * np.sign(first_largest))
    np.testing.assert_array_equal(fixed[:, 0], scores[:, 0])  # +5 came first: kept
    np.testing.assert_array_equal(fixed[:, 1], -scores[:, 1])


@pytest.mark.parametrize(("shape", "threads"), [((300, 20), 1), ((300, 20), 3), ((30, 50), 2)])
def test_images_that_are_all_alike_project_to_zero(shape, threads, monkeypatch):
    monkeypatch.setattr(pca, "_PCA_BLOCK_ROWS", 64)  # the one differing row in a later block
    x = np.full(shape, 0.25, dtype=np.float32)
    assert not reduce_pca(x, n_components=5, seed=0, threads=threads).any()
    x[-1, 3] = 0.5
    assert reduce_pca(x, n_components=5, seed=0, threads=threads).any()
