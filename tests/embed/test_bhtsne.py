"""tsnegrid's own t-SNE engine: its affinities, quadtree and forces against direct
computations and openTSNE, and its embeddings against openTSNE's."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

from tests.embed.test_quadtree import forces
from tsnegrid.embed import bhtsne
from tsnegrid.embed.neighbours import feature_neighbours
from tsnegrid.embed.pca import reduce_pca
from tsnegrid.runtime.workers import worker_pool


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    idx = np.random.default_rng(0).choice(len(data.target), 800, replace=False)
    feats = reduce_pca(data.data[idx] / 16.0, n_components=30, seed=0)
    return feats, data.target[idx], feature_neighbours(feats, 90, threads=1)


def test_affinities_are_openTSNEs(digits):
    from openTSNE.affinity import MultiscaleMixture
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    _, _, nb = digits
    ptr, cols, vals = bhtsne.joint_affinities(nb.indices, nb.distances, 30.0)
    theirs = MultiscaleMixture(
        perplexities=30, knn_index=PrecomputedNeighbors(nb.indices, nb.distances)
    ).P.tocsr()
    theirs.sort_indices()
    np.testing.assert_array_equal(ptr, theirs.indptr)
    np.testing.assert_array_equal(cols, theirs.indices)
    np.testing.assert_allclose(vals, theirs.data, rtol=1e-6)


def test_affinities_are_symmetric_sum_to_one_and_reach_the_perplexity(digits):
    _, _, nb = digits
    n = len(nb.indices)
    ptr, cols, vals = bhtsne.joint_affinities(nb.indices, nb.distances, 30.0)
    dense = np.zeros((n, n))
    for i in range(n):
        dense[i, cols[ptr[i] : ptr[i + 1]]] = vals[ptr[i] : ptr[i + 1]]
    np.testing.assert_allclose(dense, dense.T, rtol=1e-12)
    assert dense.sum() == pytest.approx(1.0)
    cond = bhtsne._conditional_affinities(nb.distances, 30.0)
    entropy = -(cond * np.log(np.where(cond > 0, cond, 1.0))).sum(1)
    np.testing.assert_allclose(np.exp(entropy), 30.0, rtol=1e-6)


def test_symmetrised_affinities_are_the_sparse_sum(digits):
    """Rows merged one by one give scipy's ``C + C^T`` entry for entry, normalised."""
    from scipy import sparse

    _, _, nb = digits
    n, k = nb.indices.shape
    cond = bhtsne._conditional_affinities(nb.distances, 30.0)
    c = sparse.csr_matrix((cond.ravel(), nb.indices.ravel(), np.arange(0, n * k + 1, k)), (n, n))
    both = (c + c.T).tocsr()
    both.sort_indices()
    with worker_pool(3) as pool:
        ptr, cols, vals = bhtsne._symmetrise(nb.indices.astype(np.int64), cond, pool, 3)
    np.testing.assert_array_equal(ptr, both.indptr)
    np.testing.assert_array_equal(cols, both.indices)
    np.testing.assert_allclose(vals, both.data / both.data.sum(), rtol=1e-12)  # sums in order
    assert len(cols) < 2 * n * k  # some pairs were listed by both points and merged


@pytest.mark.parametrize("threads", [2, 3])
def test_affinities_on_worker_threads_are_the_same(digits, threads):
    _, _, nb = digits
    one = bhtsne.joint_affinities(nb.indices, nb.distances, 30.0)
    with worker_pool(threads) as pool:
        many = bhtsne.joint_affinities(nb.indices, nb.distances, 30.0, pool, threads)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)


def test_attraction_follows_the_affinities(digits):
    _, _, nb = digits
    ptr, cols, vals = bhtsne.joint_affinities(nb.indices, nb.distances, 30.0)
    y = np.random.default_rng(3).normal(size=(len(nb.indices), 2))
    attract, _, _ = forces(y, 0.5, ptr, cols, vals)
    rows = np.repeat(np.arange(len(y)), np.diff(ptr))
    d = y[rows] - y[cols]
    pq = vals / (1.0 + (d**2).sum(1))
    expected = np.zeros_like(y)
    np.add.at(expected, rows, pq[:, None] * d)
    np.testing.assert_allclose(attract, expected, rtol=1e-10, atol=1e-15)


def test_initial_layout_is_scaled_pca_with_seeded_jitter(digits):
    feats, _, _ = digits
    a = bhtsne.initial_layout(feats, seed=1)
    assert np.std(a[:, 0]) == pytest.approx(bhtsne.INIT_STD, rel=1e-3)
    # The first two principal components, up to sign and the jitter.
    corr = np.corrcoef(a[:, 0], feats[:, 0])[0, 1]
    assert abs(corr) > 0.999
    np.testing.assert_array_equal(a, bhtsne.initial_layout(feats, seed=1))
    assert not np.array_equal(a, bhtsne.initial_layout(feats, seed=2))


def embed(digits, threads=1, schedule=None):
    feats, _, nb = digits
    schedule = schedule or bhtsne.Schedule(250, 250)
    init = bhtsne.initial_layout(feats, seed=7)
    return bhtsne.tsne(
        nb.indices, nb.distances, init, perplexity=30.0, schedule=schedule, threads=threads
    )


@pytest.mark.slow
def test_the_result_does_not_depend_on_the_thread_count(digits):
    one = embed(digits, threads=1)
    np.testing.assert_array_equal(one, embed(digits, threads=2))
    np.testing.assert_array_equal(one, embed(digits, threads=3))


@pytest.mark.slow
def test_embedding_is_as_good_as_openTSNEs(digits):
    from openTSNE import TSNE
    from openTSNE.affinity import MultiscaleMixture
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    feats, labels, nb = digits
    ours = embed(digits, schedule=bhtsne.Schedule(250, 500))
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours.mean(axis=0), 0.0, atol=1e-9)
    affinities = MultiscaleMixture(
        perplexities=30, knn_index=PrecomputedNeighbors(nb.indices, nb.distances)
    )
    theirs = np.asarray(TSNE(random_state=7).fit(feats, affinities=affinities))

    def scores(y):
        found = feature_neighbours(y, 10, threads=1).indices
        pairs = zip(found, nb.indices[:, :10], strict=True)
        kept = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in pairs])
        knn = KNeighborsClassifier(n_neighbors=5).fit(y[::2], labels[::2])
        return kept, knn.score(y[1::2], labels[1::2])

    (kept, acc), (their_kept, their_acc) = scores(ours), scores(theirs)
    assert kept > their_kept - 0.02
    assert acc > their_acc - 0.02
    assert acc > 0.9
    # Same spread as openTSNE's (the learning rate and exaggeration are theirs).
    assert 0.8 < np.ptp(ours) / np.ptp(theirs) < 1.25


def test_progress_counts_both_phases(digits):
    feats, _, nb = digits
    seen: list[float] = []
    init = bhtsne.initial_layout(feats, seed=7)
    bhtsne.tsne(
        nb.indices,
        nb.distances,
        init,
        perplexity=30.0,
        schedule=bhtsne.Schedule(50, 75),
        progress=seen.append,
    )
    assert seen == [0.2, 0.4, 0.6, 0.8, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"theta": 0.75}, "theta must be in"),
        ({"theta": -0.1}, "theta must be in"),
        ({"late_iter": -1}, "iterations must be"),
    ],
)
def test_a_schedule_the_walk_cannot_honour_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bhtsne.Schedule(**{"early_iter": 10, "late_iter": 10, **kwargs})
    assert bhtsne.Schedule(10, 10, theta=0.7).theta == 0.7
