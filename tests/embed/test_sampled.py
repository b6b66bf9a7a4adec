import numpy as np
import pytest

from tsnegrid.embed import bhtsne
from tsnegrid.embed.sampled import (
    PLACE_K,
    REFINE_K,
    repulsion_field,
    sample_note,
    sample_rows,
    sampled_tsne,
)
from tsnegrid.embed.tsne import embed_tsne, sample_size

SCHEDULE = bhtsne.Schedule(early_iter=100, late_iter=200)


def _clusters(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in 8 dimensions around 4 well separated centres, and their cluster."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    centres = rng.normal(0.0, 6.0, (4, 8))
    return centres[labels] + rng.normal(0.0, 1.0, (n, 8)), labels


def test_sample_rows_is_a_seeded_sorted_sample_without_repeats():
    a = sample_rows(1000, 100, seed=3)
    assert a.shape == (100,) and np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 1000
    np.testing.assert_array_equal(a, sample_rows(1000, 100, seed=3))
    assert not np.array_equal(a, sample_rows(1000, 100, seed=4))


def test_the_field_matches_the_exact_repulsion_between_grid_nodes():
    from tsnegrid.embed.sampled import _look_up

    y = np.random.default_rng(1).normal(0.0, 5.0, (400, 2))
    field = repulsion_field(y)
    rng = np.random.default_rng(2)
    probes = y.min(axis=0) + rng.random((50, 2)) * (y.max(axis=0) - y.min(axis=0))
    force_errors, sum_errors = [], []
    for p in probes:
        d = p - y
        q = 1.0 / (1.0 + (d**2).sum(axis=1))
        found = np.array(_look_up(field.values, field.origin, field.spacing, p[0], p[1]))
        gross = (q**2 * np.hypot(d[:, 0], d[:, 1])).sum()  # the force's terms' magnitudes
        force_errors.append(np.hypot(*(found[:2] - (q[:, None] ** 2 * d).sum(axis=0))) / gross)
        sum_errors.append(abs(found[2] - q.sum()) / q.sum())
    # Barnes-Hut's error at the field's angle; the interpolation adds little (0.05% at angle 0)
    assert np.mean(force_errors) < 0.02 and np.max(force_errors) < 0.05
    assert np.mean(sum_errors) < 0.02 and np.max(sum_errors) < 0.05


@pytest.fixture(scope="module")
def clustered():
    feats, labels = _clusters(3000)
    return (
        feats,
        labels,
        sampled_tsne(feats, perplexity=30, seed=7, sample_size=600, schedule=SCHEDULE),
    )


def test_sampled_tsne_places_every_point_near_its_own_cluster(clustered):
    _, labels, result = clustered
    assert result.points.shape == (3000, 2) and np.isfinite(result.points).all()
    assert result.sample.shape == (600,)
    rest = np.setdiff1d(np.arange(3000), result.sample)
    assert result.placement.indices.shape == (2400, PLACE_K)
    # each placed point's nearest sampled point in the embedding is of its own cluster
    ys = result.points[result.sample]
    d = ((result.points[rest][:, None, :] - ys[None, :, :]) ** 2).sum(axis=2)
    nearest = result.sample[d.argmin(axis=1)]
    assert np.mean(labels[nearest] == labels[rest]) > 0.99


def test_sample_neighbours_are_ordered_and_index_the_sample(clustered):
    _, _, result = clustered
    own = result.sample_neighbours
    assert own.indices.shape == (600, 90) and own.indices.max() < 600
    assert np.all(np.diff(own.distances, axis=1) >= 0)
    assert not np.any(own.indices == np.arange(600)[:, None])


@pytest.mark.slow
def test_sampled_tsne_is_the_same_for_one_and_two_threads(clustered):
    feats, _, result = clustered
    again = sampled_tsne(
        feats, perplexity=30, seed=7, sample_size=600, schedule=SCHEDULE, threads=2
    )
    np.testing.assert_array_equal(result.points, again.points)


def test_embed_tsne_samples_above_its_threshold_only():
    feats, _ = _clusters(700, seed=3)
    whole = embed_tsne(feats, perplexity=30, seed=1, max_iter=260, sample_from=700)
    assert not any("sample" in note for note in whole.notes)
    again = embed_tsne(feats, perplexity=30, seed=1, max_iter=260)
    np.testing.assert_array_equal(whole.points, again.points)
    part = embed_tsne(feats, perplexity=30, seed=1, max_iter=260, sample_from=500)
    assert part.notes[-1] == sample_note(700, sample_size(700, 500)) == sample_note(700, 250)
    assert part.points.shape == (700, 2) and part.points.min() == 0.0 and part.points.max() == 1.0


def test_placing_without_steps_puts_points_at_the_weighted_mean():
    ref = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    from tsnegrid.embed.sampled import place_points

    idx = np.array([[0, 1, 2], [2, 1, 0]])
    dist = np.array([[1.0, 1.0, 1.0], [0.5, 2.0, 3.0]])
    out = place_points(ref, idx, dist, n_iter=0)
    np.testing.assert_allclose(out[0], [10 / 3, 10 / 3])
    w = bhtsne._conditional_affinities(dist, 1.0)
    np.testing.assert_allclose(out[1], w[1] @ ref[[2, 1, 0]])


def test_the_refinement_s_neighbours_are_real_distances_in_order_and_mostly_right(clustered):
    from tsnegrid.embed.knn import nearest_others

    feats, _, result = clustered
    near = result.neighbours
    assert near is not None and near.method == "sampled"
    assert near.indices.shape == (3000, REFINE_K)
    assert not np.any(near.indices == np.arange(3000)[:, None])
    assert np.all(np.diff(near.distances, axis=1) >= 0)
    direct = np.linalg.norm(feats[near.indices] - feats[:, None, :], axis=2)
    np.testing.assert_allclose(near.distances, direct, rtol=1e-12)
    exact, _ = nearest_others(feats, 10, rows=np.arange(0, 3000, 10))
    hits = [np.intersect1d(a, b).size for a, b in zip(near.indices[::10, :10], exact, strict=True)]
    assert np.mean(hits) / 10 > 0.3


def test_without_a_refinement_there_are_no_neighbours_of_all_points():
    feats, _ = _clusters(400, seed=2)
    result = sampled_tsne(
        feats, perplexity=10, seed=1, sample_size=100, schedule=SCHEDULE, refine_iter=0
    )
    assert result.neighbours is None and result.points.shape == (400, 2)
