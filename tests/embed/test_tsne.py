import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

from tsnegrid.embed.neighbours import feature_neighbours, max_perplexity, tsne_neighbour_count
from tsnegrid.embed.pca import reduce_pca
from tsnegrid.embed.tsne import embed_tsne, normalise_unit


def test_normalise_unit_fills_the_square_and_centres_constant_axes():
    pts = normalise_unit(np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]]))
    assert pts[:, 0].tolist() == [0.0, 1.0, 0.5]
    assert pts[:, 1].tolist() == [0.5, 0.5, 0.5]


@pytest.fixture(scope="module", params=["tsnegrid", "opentsne", "sklearn"])
def digits_embedding(request):
    digits = load_digits()
    idx = np.random.default_rng(0).choice(len(digits.target), 600, replace=False)
    feats = reduce_pca(digits.data[idx] / 16.0, n_components=30, seed=0)
    emb = embed_tsne(feats, perplexity=30, seed=777, max_iter=500, engine=request.param)
    return feats, digits.target[idx], emb, request.param


@pytest.mark.slow
def test_tsne_of_digits_keeps_classes_apart(digits_embedding):
    _, labels, emb, _ = digits_embedding
    assert emb.points.shape == (600, 2)
    assert emb.points.min() == 0.0
    assert emb.points.max() == 1.0
    knn = KNeighborsClassifier(n_neighbors=5).fit(emb.points[::2], labels[::2])
    assert knn.score(emb.points[1::2], labels[1::2]) > 0.9


@pytest.mark.slow
def test_tsne_is_deterministic_for_a_seed_whatever_the_threads(digits_embedding):
    feats, _, emb, engine = digits_embedding
    again = embed_tsne(feats, perplexity=30, seed=777, max_iter=500, engine=engine, threads=2)
    np.testing.assert_array_equal(emb.points, again.points)


def test_the_seed_matters():
    feats = np.random.default_rng(0).random((80, 5))
    a = embed_tsne(feats, perplexity=10, seed=1, max_iter=250)
    b = embed_tsne(feats, perplexity=10, seed=2, max_iter=250)
    assert not np.array_equal(a.points, b.points)


@pytest.mark.parametrize(("n", "perplexity"), [(120, 10), (12, 30)])
def test_shared_neighbours_give_the_embedding_each_engine_finds_alone(n, perplexity):
    feats = np.random.default_rng(4).random((n, 6))
    k = tsne_neighbour_count(n, perplexity)
    assert k == min(n - 1, int(3 * min(perplexity, max_perplexity(n))))
    shared = feature_neighbours(feats, k, threads=2)
    assert shared.indices.shape == (n, k) and np.all(np.diff(shared.distances, axis=1) >= 0)
    for engine in ("tsnegrid", "opentsne"):
        alone = embed_tsne(feats, perplexity=perplexity, seed=5, max_iter=300, engine=engine)
        given = embed_tsne(
            feats, perplexity=perplexity, seed=5, max_iter=300, engine=engine, neighbours=shared
        )
        np.testing.assert_array_equal(given.points, alone.points)
        # A search of another size is not the one t-SNE would run: it is ignored.
        other = feature_neighbours(feats, k - 1, threads=1)
        ignored = embed_tsne(
            feats, perplexity=perplexity, seed=5, max_iter=300, engine=engine, neighbours=other
        )
        np.testing.assert_array_equal(ignored.points, alone.points)


def test_perplexity_too_large_is_lowered_with_a_note():
    feats = np.random.default_rng(0).random((10, 5))
    emb = embed_tsne(feats, perplexity=30, seed=0, max_iter=250)
    assert emb.perplexity == max_perplexity(10) == 3.0
    assert "Perplexity 30 is too large for 10 images" in emb.notes[0]
    assert np.all((emb.points >= 0) & (emb.points <= 1))


def test_identical_images_sit_at_the_centre():
    emb = embed_tsne(np.ones((6, 3)), perplexity=30, seed=0)
    assert np.all(emb.points == 0.5)
    assert any("identical" in n for n in emb.notes)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_too_few_images_are_spread_on_a_line_by_score(n):
    feats = np.array([[3.0], [1.0], [2.0]])[:n]
    emb = embed_tsne(feats, perplexity=30, seed=0)
    assert emb.points.shape == (n, 2)
    if n == 3:
        assert emb.points[:, 0].tolist() == [1.0, 0.0, 0.5]


def test_progress_reports_both_phases_and_does_not_change_the_result():
    feats = np.random.default_rng(0).random((120, 6))
    seen: list[float] = []
    with_progress = embed_tsne(feats, perplexity=10, seed=3, max_iter=400, progress=seen.append)
    without = embed_tsne(feats, perplexity=10, seed=3, max_iter=400)
    np.testing.assert_array_equal(with_progress.points, without.points)
    assert seen == sorted(seen)
    assert seen[0] < 0.2
    assert seen[-1] == pytest.approx(1.0)
    assert any(f > 250 / 400 for f in seen)  # the second phase counts on from the first


@pytest.mark.parametrize(
    ("engine", "function", "expected"),
    [
        ("tsnegrid", "_own_tsne", 750),
        ("opentsne", "_opentsne", 750),
        ("sklearn", "_sklearn_tsne", 1000),
    ],
)
def test_each_engine_runs_its_own_default_iterations(monkeypatch, engine, function, expected):
    from tsnegrid.embed import tsne as embedding

    seen = {}

    def fake(features, *_, max_iter, **__):
        seen["max_iter"] = max_iter
        return np.random.default_rng(0).random((len(features), 2))

    monkeypatch.setattr(embedding, function, fake)
    embed_tsne(np.random.default_rng(0).random((20, 3)), perplexity=5, seed=0, engine=engine)
    assert seen["max_iter"] == expected
    embed_tsne(
        np.random.default_rng(0).random((20, 3)), perplexity=5, seed=0, engine=engine, max_iter=300
    )
    assert seen["max_iter"] == 300
