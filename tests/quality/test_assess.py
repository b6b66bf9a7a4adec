"""Tests of the layout quality metrics: DPQ, neighbourhood preservation, displacement, coherence."""

from __future__ import annotations

import numpy as np

from tsnegrid.quality.metrics import (
    evaluate_layout,
)


def test_shared_feature_candidates_give_the_same_scores():
    from tsnegrid.quality.metrics import layout_ks, nearest_candidates

    rng = np.random.default_rng(5)
    feats = rng.normal(size=(60, 8))
    points = rng.random((60, 2))
    nodes = rng.permutation(64)[:60]
    alone = evaluate_layout(feats, points, nodes, None, 8, 8, seed=0)
    cand = nearest_candidates(feats, max(layout_ks(60)))
    shared = evaluate_layout(feats, points, nodes, None, 8, 8, seed=0, feature_candidates=cand)
    np.testing.assert_array_equal(alone.np_grid, shared.np_grid)
    assert alone.np_embedding is not None and shared.np_embedding is not None
    np.testing.assert_array_equal(alone.np_embedding, shared.np_embedding)


def test_quality_stage_reports_progress_in_five_steps():
    from tsnegrid.quality.assess import assess_quality

    rng = np.random.default_rng(2)
    feats = rng.normal(size=(30, 4))
    seen: list[float] = []
    report = assess_quality(
        feats,
        rng.random((30, 2)),
        rng.permutation(36)[:30],
        np.zeros(30, dtype=np.int64),
        6,
        6,
        seed=0,
        progress=seen.append,
    )
    assert seen == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert [s.name for s in report.layouts] == ["t-SNE + LAP", "random", "sorted"]


def test_above_the_exact_size_neighbourhoods_are_scored_on_a_seeded_sample(monkeypatch):
    from tsnegrid.quality import assess
    from tsnegrid.quality.metrics import neighbourhood_preservation

    rng = np.random.default_rng(4)
    feats, points = rng.normal(size=(90, 5)), rng.random((90, 2))
    nodes = rng.permutation(100)[:90]
    labels = np.zeros(90, dtype=np.int64)
    whole = assess.assess_quality(feats, points, nodes, labels, 10, 10, seed=3)
    assert whole.layouts[0].quality.np_rows is None
    monkeypatch.setattr(assess, "NP_EXACT_MAX", 80)
    monkeypatch.setattr(assess, "NP_SAMPLE", 25)
    sampled = assess.assess_quality(feats, points, nodes, labels, 10, 10, seed=3)
    again = assess.assess_quality(feats, points, nodes, labels, 10, 10, seed=3)
    ours = sampled.layouts[0].quality
    assert ours.np_rows == 25
    np.testing.assert_array_equal(ours.np_grid, again.layouts[0].quality.np_grid)
    rows = assess._np_rows(90, 3)
    assert rows is not None and len(set(rows.tolist())) == 25
    assert ours.np_embedding is not None
    np.testing.assert_array_equal(
        ours.np_embedding, neighbourhood_preservation(feats, points, rows=rows)
    )
    assert ours.dpq16 == whole.layouts[0].quality.dpq16  # DPQ does not depend on the sample
    assert assess.quality_json(sampled)["layouts"][0]["neighbourhood_preservation"]["sample"] == 25


def test_the_quality_stage_gives_the_same_numbers_on_any_thread_count():
    from tsnegrid.quality.assess import assess_quality, quality_json

    rng = np.random.default_rng(6)
    feats, points = rng.normal(size=(300, 6)), rng.random((300, 2))
    polished, assigned = rng.permutation(324)[:300], rng.permutation(324)[:300]
    labels = rng.integers(0, 3, 300)
    runs = [
        assess_quality(
            feats, points, polished, labels, 18, 18, seed=1, threads=t, assigned=assigned
        )
        for t in (1, 2, 3)
    ]
    assert [s.name for s in runs[0].layouts] == ["polished", "t-SNE + LAP", "random", "sorted"]
    assert quality_json(runs[0]) == quality_json(runs[1]) == quality_json(runs[2])
