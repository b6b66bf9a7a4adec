import dataclasses
import re

import numpy as np
import pytest

from tests.reportkit import build_report, small_config
from tsnegrid.config import Config
from tsnegrid.errors import UsageError
from tsnegrid.plan import plan_layout


@pytest.mark.parametrize(
    ("kwargs", "available", "expected"),
    [
        ({}, 1797, (1797, 42, 43)),  # digits whole, near-square
        ({}, 70000, (2500, 50, 50)),  # a big dataset is sampled like the notebook
        ({"size": 50}, 70000, (2500, 50, 50)),
        ({"size": 50}, 1797, (1797, 50, 50)),  # fewer images than cells: cells stay empty
        ({"grid": (40, 60)}, 70000, (2400, 40, 60)),
        ({"grid": (1, 7), "n_images": 5}, 100, (5, 1, 7)),
        ({"n_images": 10}, 100, (10, 3, 4)),
        ({"all_images": True}, 70000, (70000, 265, 265)),
    ],
)
def test_plan_layout(kwargs, available, expected):
    plan = plan_layout(Config(**kwargs), available)
    assert (plan.n_images, plan.rows, plan.cols) == expected
    assert plan.n_images <= plan.rows * plan.cols


def test_plan_notes_what_it_adjusted():
    plan = plan_layout(Config(size=50), 1797)
    assert "only 1,797 images" in plan.notes[0]
    assert "703 of the 2,500 cells stay empty" in plan.notes[1]


def test_a_grid_smaller_than_the_sample_is_a_usage_error():
    with pytest.raises(UsageError, match=r"grid 3x3 has 9 cells but 20 images .* --n 9 or less"):
        plan_layout(Config(grid=(3, 3), n_images=20), 100)


# times, and shares with their bars (a share that rounds to 0 has no bar)
TIMES = rb"(?:`(?:\xe2\x96\x88)+` )?\d+%|[\d,.]+ (s|ms|MiB)\b|\d+\.\d{3}"


def _report_files(out):
    """The report's files; stage times (and the order they sort the timings page in) masked."""
    files = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name != "timings.json":
            data = path.read_bytes()
            if path.suffix == ".md":
                data = re.sub(TIMES, b"T", data)
            if path.name == "timings.md":
                data = b"\n".join(sorted(data.splitlines()))
            files[path.relative_to(out).as_posix()] = data
    return files


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_report(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    config = small_config(tmp_path / "docs", n_images=80)
    first = build_report(config)
    before = _report_files(tmp_path / "docs")
    second = build_report(config)
    np.testing.assert_array_equal(first.assignment.node_of_point, second.assignment.node_of_point)
    after = _report_files(tmp_path / "docs")
    assert before.keys() == after.keys()
    assert [name for name in before if before[name] != after[name]] == []


@pytest.mark.slow
def test_the_thread_count_changes_no_result(tmp_path):
    from tsnegrid.pipeline import run
    from tsnegrid.quality.assess import quality_json

    one, two = (run(small_config(tmp_path / "docs", n_images=120, threads=t)) for t in (1, 2))
    np.testing.assert_array_equal(one.features, two.features)
    np.testing.assert_array_equal(one.embedding.points, two.embedding.points)
    np.testing.assert_array_equal(one.assignment.node_of_point, two.assignment.node_of_point)
    assert one.polished is not None and two.polished is not None
    np.testing.assert_array_equal(one.final_nodes, two.final_nodes)  # the polished map too
    assert quality_json(one.quality) == quality_json(two.quality)
    assert one.figures == two.figures  # every figure, the map and its tiles, byte for byte


@pytest.mark.slow
def test_numba_starts_on_a_thread_that_never_outlives_the_run_nor_fails_it(tmp_path, monkeypatch):
    import threading

    from tsnegrid import pipeline
    from tsnegrid.embed import knn

    started: list[str] = []
    real_warm_up = knn.warm_up

    def failing_warm_up():
        started.append(threading.current_thread().name)
        raise RuntimeError("no compiler today")

    monkeypatch.setattr(knn, "warm_up", failing_warm_up)
    result = pipeline.run(small_config(tmp_path / "docs", n_images=40))
    assert started == ["tsnegrid-numba"]
    assert result.assignment.optimal  # the stages ran as usual
    assert "tsnegrid-numba" not in [t.name for t in threading.enumerate()]
    real_warm_up()  # and the real one runs on its own


@pytest.mark.slow
def test_on_a_busy_machine_tsne_takes_fewer_threads_and_says_so(tmp_path, monkeypatch):
    from tsnegrid import embed, pipeline, stages

    seen: list[int] = []
    real = embed.embed_tsne

    def spy(features, **kwargs):
        seen.append(kwargs["threads"])
        return real(features, **kwargs)

    monkeypatch.setattr(embed, "embed_tsne", spy)
    monkeypatch.setattr(stages, "allowed_cpus", lambda: [0, 1])
    monkeypatch.setattr(stages, "busy_cores", lambda cpus, **_: 1.0)  # another process, 1 core
    notes: list[str] = []
    busy = pipeline.run(small_config(tmp_path / "a", n_images=60, threads=2), on_note=notes.append)
    monkeypatch.setattr(stages, "busy_cores", lambda cpus, **_: 0.0)
    idle = pipeline.run(small_config(tmp_path / "b", n_images=60, threads=2), on_note=notes.append)
    assert seen == [1, 2]
    assert notes == [
        "t-SNE runs on 1 of 2 threads: other processes keep 1.0 of the 2 CPUs busy "
        "(the result is the same)"
    ]
    np.testing.assert_array_equal(busy.embedding.points, idle.embedding.points)


def _folder(root, images):
    from PIL import Image

    root.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img).save(root / f"{i}.png")
    return root


_RNG = np.random.default_rng(0)
_DEGENERATE = {
    "one image": [_RNG.integers(0, 255, (10, 10, 3), dtype=np.uint8)],
    "two images": [_RNG.integers(0, 255, (10, 10, 3), dtype=np.uint8) for _ in range(2)],
    "identical images": [np.full((10, 10, 3), 7, np.uint8)] * 6,
    "five images": [_RNG.integers(0, 255, (10, 10, 3), dtype=np.uint8) for _ in range(5)],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(_DEGENERATE))
@pytest.mark.parametrize("one_row", [False, True])
def test_degenerate_collections_still_make_a_report(tmp_path, case, one_row):
    images = _DEGENERATE[case]
    grid = (1, len(images) + 2) if one_row else None
    config = small_config(tmp_path / "docs", dataset="digits", n_images=None, grid=grid)
    config = dataclasses.replace(config, images=_folder(tmp_path / "imgs", images))
    result = build_report(config)
    nodes = result.assignment.node_of_point
    assert len(np.unique(nodes)) == len(images)
    assert result.assignment.optimal
    assert (tmp_path / "docs" / "quality.md").is_file()
    if case == "one image":
        assert result.quality.layouts == ()
        assert "at least two images" in (tmp_path / "docs" / "quality.md").read_text()
    if case == "identical images":
        assert any("identical" in note for note in result.notes)
        np.testing.assert_array_equal(result.embedding.points, 0.5)
    if one_row:
        assert any("cells stay empty" in note for note in result.notes)


def _disc(path, size=60):
    from PIL import Image, ImageDraw

    image = Image.new("L", (size, size), 255)
    ImageDraw.Draw(image).ellipse((0, 0, size - 1, size - 1), fill=0)
    image.save(path)
    return path


@pytest.mark.slow
def test_a_masked_polished_run_uses_only_the_masks_cells_and_scores_both_layouts(tmp_path):
    from tsnegrid.data.mask import read_mask, usable_cells
    from tsnegrid.pipeline import run

    mask = _disc(tmp_path / "disc.png")
    result = run(small_config(tmp_path / "docs", n_images=120, mask=mask))
    plan = result.plan
    assert plan.usable is not None
    np.testing.assert_array_equal(plan.usable, usable_cells(read_mask(mask), plan.rows, plan.cols))
    assert plan.usable[result.assignment.node_of_point].all()
    assert plan.usable[result.final_nodes].all()
    assert len(set(result.final_nodes.tolist())) == 120
    names = [s.name for s in result.quality.layouts]
    assert names == ["polished", "t-SNE + LAP", "random", "sorted"]
    for scored in result.quality.layouts:  # the baselines respect the mask too
        assert plan.usable[scored.node_of_point].all()
    polished, lap = result.quality.layouts[0].quality, result.quality.layouts[1].quality
    assert polished.dpq16.value >= lap.dpq16.value


@pytest.mark.slow
def test_without_polish_the_final_map_is_the_assignment(tmp_path):
    from tsnegrid.pipeline import run

    result = run(small_config(tmp_path / "docs", n_images=80, polish=False))
    assert result.polished is None
    np.testing.assert_array_equal(result.final_nodes, result.assignment.node_of_point)
    assert [s.name for s in result.quality.layouts] == ["t-SNE + LAP", "random", "sorted"]


def test_a_mask_leaves_the_grid_its_shape_and_room_for_every_image(tmp_path):
    from tsnegrid.data.mask import read_mask

    mask = read_mask(_disc(tmp_path / "disc.png"))
    plan = plan_layout(Config(n_images=300), 1797, mask)
    assert plan.rows == plan.cols and plan.usable is not None
    assert plan.usable.sum() >= 300 and plan.usable.size == plan.rows * plan.cols
    assert any("usable" in note for note in plan.notes)
    fixed = plan_layout(Config(grid=(20, 20)), 1797, mask)  # as many images as usable cells
    assert fixed.usable is not None and fixed.n_images == fixed.usable.sum()
    with pytest.raises(UsageError, match=r"leaves .* usable cells under the mask but 400 images"):
        plan_layout(Config(grid=(20, 20), n_images=400), 1797, mask)


@pytest.mark.slow
def test_a_folder_decoded_on_a_local_dask_cluster_gives_the_same_report(tmp_path):
    pytest.importorskip("distributed")
    from PIL import Image

    from tsnegrid.pipeline import run
    from tsnegrid.quality.assess import quality_json

    rng = np.random.default_rng(3)
    for k, name in enumerate(("a", "b")):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(15):
            pixels = rng.integers(0, 90, (10, 10, 3), dtype=np.uint8) + np.uint8(120 * k)
            Image.fromarray(pixels).save(tmp_path / "imgs" / name / f"{i}.png")
    folder = {"images": tmp_path / "imgs", "n_images": None, "thumb_px": 8}
    alone = run(small_config(tmp_path / "x", **folder))
    on_dask = run(small_config(tmp_path / "y", dask="local", **folder))
    np.testing.assert_array_equal(alone.images.pixels, on_dask.images.pixels)
    assert alone.images.names == on_dask.images.names
    assert quality_json(alone.quality) == quality_json(on_dask.quality)
    assert alone.figures == on_dask.figures
    assert alone.config.digest() == on_dask.config.digest()  # --dask changes no result


@pytest.mark.slow
def test_the_map_tiles_encoded_on_a_dask_cluster_are_the_same_files(tmp_path):
    distributed = pytest.importorskip("distributed")
    from tsnegrid.pipeline import run

    alone = run(small_config(tmp_path / "x", n_images=200))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        on_dask = run(small_config(tmp_path / "y", n_images=200, dask=cluster.scheduler_address))
        prefixes = set(cluster.scheduler.task_prefixes)
    assert "encode_payloads" in prefixes  # the tiles were encoded there (dask drops the "_")
    assert alone.figures == on_dask.figures
    assert alone.config.digest() == on_dask.config.digest()  # --dask changes no result
