import numpy as np
import pytest

from tests.reportkit import small_config
from tsnegrid.pipeline import run
from tsnegrid.results import Embedding
from tsnegrid.runtime.cache import (
    DISTRIBUTION_OF,
    PACKAGE_ROOT,
    CachePolicy,
    _import_closure,
    _imports,
    array_digest,
    cache_key,
    cached,
    code_version,
)


def _clock():
    ticks = iter(range(100))
    return lambda: float(next(ticks))


def test_second_call_loads_what_the_first_computed(tmp_path):
    policy = CachePolicy(root=tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return Embedding(points=np.eye(2), perplexity=5.0, notes=("a note",))

    first, out1 = cached(policy, "tsne", {"x": 1}, compute, Embedding, _clock())
    second, out2 = cached(policy, "tsne", {"x": 1}, compute, Embedding, _clock())
    assert (out1.status, out2.status) == ("computed", "loaded")
    assert out2.computed_seconds == out1.computed_seconds == 1.0
    assert len(calls) == 1
    np.testing.assert_array_equal(second.points, first.points)
    assert (second.perplexity, second.notes) == (5.0, ("a note",))


def test_other_parameters_are_another_entry(tmp_path):
    policy = CachePolicy(root=tmp_path)
    cached(policy, "pca", {"dims": 2}, lambda: np.zeros(2), np.ndarray, _clock())
    b, outcome = cached(policy, "pca", {"dims": 3}, lambda: np.ones(3), np.ndarray, _clock())
    assert outcome.status == "computed"
    assert b.tolist() == [1.0, 1.0, 1.0]
    assert cache_key("pca", {"dims": 2}) != cache_key("pca", {"dims": 3})


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_corrupt_entry_is_recomputed_never_trusted(tmp_path, damage):
    policy = CachePolicy(root=tmp_path)
    cached(policy, "pca", {}, lambda: np.arange(1000.0), np.ndarray, _clock())
    (entry,) = tmp_path.iterdir()
    data = bytearray(entry.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        # flip a byte inside the stored array (npz members are stored uncompressed)
        at = data.find(np.arange(1000.0)[500].tobytes())
        data[at] ^= 0xFF
    else:
        data = bytearray(b"not a zip at all")
    entry.write_bytes(bytes(data))
    value, outcome = cached(policy, "pca", {}, lambda: np.arange(1000.0), np.ndarray, _clock())
    assert outcome.status == "recomputed"
    assert np.array_equal(value, np.arange(1000.0))
    again, outcome = cached(policy, "pca", {}, lambda: np.zeros(1), np.ndarray, _clock())
    assert outcome.status == "loaded"
    assert np.array_equal(again, np.arange(1000.0))


def test_force_recomputes_and_no_cache_writes_nothing(tmp_path):
    cached(CachePolicy(root=tmp_path), "s", {}, lambda: np.zeros(1), np.ndarray, _clock())
    _, outcome = cached(
        CachePolicy(root=tmp_path, read=False), "s", {}, lambda: np.ones(1), np.ndarray, _clock()
    )
    assert outcome.status == "computed"
    _, outcome = cached(CachePolicy(root=None), "t", {}, lambda: np.ones(1), np.ndarray, _clock())
    assert outcome.status == "computed"
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["s"]


def test_the_key_is_computed_only_where_there_is_a_cache(tmp_path):
    """Under --no-cache a stage's input is not hashed; with a cache, a function of the parts
    keys the same entry as the parts themselves."""

    def never() -> dict:
        raise AssertionError("keyed a stage without a cache")

    value, outcome = cached(
        CachePolicy(root=None), "pca", never, lambda: np.ones(1), np.ndarray, _clock()
    )
    assert outcome.status == "computed" and np.array_equal(value, [1.0])
    calls = []

    def parts() -> dict:
        calls.append(1)
        return {"dims": 2}

    cached(CachePolicy(root=tmp_path), "pca", parts, lambda: np.arange(2.0), np.ndarray, _clock())
    again, outcome = cached(
        CachePolicy(root=tmp_path), "pca", {"dims": 2}, lambda: np.zeros(2), np.ndarray, _clock()
    )
    assert calls == [1] and outcome.status == "loaded" and np.array_equal(again, [0.0, 1.0])


def test_digests_and_versions_identify_inputs_and_code():
    assert array_digest(np.zeros(3)) != array_digest(np.zeros(3, dtype=np.float32))
    assert array_digest(np.zeros((2, 3))) != array_digest(np.zeros((3, 2)))
    versions = code_version("tsnegrid.embed.tsne")
    assert versions["numpy"] == np.__version__
    assert len(versions["tsnegrid"]) == 16


def test_the_code_key_covers_every_module_a_stage_imports_even_inside_functions():
    ours, theirs = _import_closure(("tsnegrid.embed.tsne",), PACKAGE_ROOT)
    # bhtsne is imported inside a function; quadtree and knn only through it and neighbours.
    assert {"tsnegrid.embed.bhtsne", "tsnegrid.embed.quadtree", "tsnegrid.embed.knn"} <= ours
    assert "tsnegrid.report.figures" not in ours
    assert {"numba", "openTSNE", "sklearn"} <= theirs


def test_editing_any_module_in_the_closure_changes_the_key(tmp_path):
    pkg = tmp_path / "tsnegrid"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "stage.py").write_text("def f():\n    from tsnegrid.sub.helper import g\n")
    (pkg / "sub" / "helper.py").write_text("import numpy\ndef g(): return 1\n")
    (pkg / "other.py").write_text("x = 1\n")
    key = code_version("tsnegrid.sub.stage", root=pkg)
    (pkg / "other.py").write_text("x = 2\n")  # not imported by the stage
    assert code_version("tsnegrid.sub.stage", root=pkg) == key
    _imports.cache_clear()
    (pkg / "sub" / "helper.py").write_text("import numpy\ndef g(): return 2\n")
    assert code_version("tsnegrid.sub.stage", root=pkg)["tsnegrid"] != key["tsnegrid"]
    assert key["numpy"] == np.__version__


@pytest.mark.slow
def test_every_third_party_import_of_the_package_maps_to_an_installed_distribution():
    from importlib import metadata

    modules = {
        ".".join(("tsnegrid", *p.relative_to(PACKAGE_ROOT).with_suffix("").parts))
        for p in PACKAGE_ROOT.rglob("*.py")
    }
    _, theirs = _import_closure(tuple(modules), PACKAGE_ROOT)
    known = metadata.packages_distributions()
    optional = {"lapjv", "dask", "distributed", "vc_flas", "pynndescent", "hnswlib"}
    for package in theirs - optional:
        assert package in known, package
        assert DISTRIBUTION_OF.get(package, package).lower() in {
            d.lower() for d in known[package]
        }, package


@pytest.mark.slow
def test_a_rerun_reuses_stages_whose_inputs_did_not_change(tmp_path):
    cache = tmp_path / "cache"
    first = run(small_config(tmp_path / "out", n_images=60, cache_dir=cache))
    assert {t.name: t.status for t in first.timings}["tsne"] == "computed"
    second = run(small_config(tmp_path / "out", n_images=60, cache_dir=cache))
    status = {t.name: t.status for t in second.timings}
    assert (status["pca"], status["tsne"], status["assignment"]) == ("loaded",) * 3
    np.testing.assert_array_equal(second.embedding.points, first.embedding.points)
    np.testing.assert_array_equal(second.assignment.node_of_point, first.assignment.node_of_point)
    # another grid: t-SNE is reused, the assignment is not
    regrid = run(small_config(tmp_path / "out", n_images=60, grid=(6, 12), cache_dir=cache))
    status = {t.name: t.status for t in regrid.timings}
    assert (status["tsne"], status["assignment"]) == ("loaded", "computed")
    # another perplexity: t-SNE and everything after it
    other = run(small_config(tmp_path / "out", n_images=60, perplexity=10.0, cache_dir=cache))
    status = {t.name: t.status for t in other.timings}
    assert (status["pca"], status["tsne"], status["assignment"]) == (
        "loaded",
        "computed",
        "computed",
    )
    forced = run(small_config(tmp_path / "out", n_images=60, cache_dir=cache, force=True))
    assert {t.status for t in forced.timings} == {"computed"}


def test_a_run_without_a_cache_hashes_no_stage_input(tmp_path, monkeypatch):
    def refuse(*arrays: np.ndarray) -> str:
        raise AssertionError("hashed a stage's input with no cache to key")

    monkeypatch.setattr("tsnegrid.stages.array_digest", refuse)
    result = run(small_config(tmp_path / "out", n_images=60))
    assert {t.name for t in result.timings} >= {"pca", "tsne", "assignment"}
    assert {t.status for t in result.timings} == {"computed"}


def test_an_unwritable_cache_costs_time_not_the_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    policy = CachePolicy(root=blocker / "cache")  # a folder below a file cannot be made
    value, outcome = cached(policy, "s", {}, lambda: np.ones(2), np.ndarray, _clock())
    assert outcome.status == "computed"
    assert value.tolist() == [1.0, 1.0]


def test_a_full_cache_disk_costs_time_not_the_run(tmp_path, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    policy = CachePolicy(root=tmp_path / "cache")
    value, outcome = cached(policy, "s", {}, lambda: np.ones(2), np.ndarray, _clock())
    assert (outcome.status, value.tolist()) == ("computed", [1.0, 1.0])
    assert list((tmp_path / "cache").iterdir()) == []  # no half-written entry
