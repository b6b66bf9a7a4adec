import json
import re

import numpy as np
import pytest

from tests.reportkit import mkdocs_build
from tsnegrid.report.pages import PAGES, md_escape


@pytest.mark.slow
def test_every_page_figure_and_data_file_is_written(report):
    out, _ = report
    for stem, _title in PAGES:
        assert (out / f"{stem}.md").is_file()
    stems = sorted(p.name.rsplit("-", 1)[0] for p in (out / "img").iterdir())
    assert stems == [
        "arrows",
        "displacement",
        "grid",
        "map",
        "map-full",
        "overlay",
        "samples",
        "scatter",
        "seams",
        "seams-lap",  # polished by default: the seams before polishing, beside
    ]
    for name in ("layout.csv", "timings.json", "manifest.json", "quality.json"):
        assert (out / name).is_file()


@pytest.mark.slow
def test_layout_csv_has_one_row_per_image_with_its_cell(report):
    out, result = report
    lines = (out / "layout.csv").read_text().splitlines()
    assert lines[0] == "index,name,label,x,y,row,col,lap_row,lap_col"
    assert len(lines) == 151
    first = lines[1].split(",")
    cols = result.assignment.cols
    assert first[0] == "0"
    assert first[1] == result.images.names[0]
    assert float(first[3]) == result.embedding.points[0, 0]
    assert (int(first[5]), int(first[6])) == divmod(int(result.final_nodes[0]), cols)
    assert (int(first[7]), int(first[8])) == divmod(int(result.assignment.node_of_point[0]), cols)
    final = {tuple(line.split(",")[5:7]) for line in lines[1:]}
    lap = {tuple(line.split(",")[7:9]) for line in lines[1:]}
    assert len(final) == len(lap) == 150


@pytest.mark.slow
def test_timings_and_manifest_carry_schemas_and_hashes(report):
    out, result = report
    timings = json.loads((out / "timings.json").read_text())
    assert timings["schema"] == "tsnegrid.timings"
    assert timings["schema_version"] == 1
    assert [s["name"] for s in timings["stages"]] == [t.name for t in result.timings]
    assert timings["peak_mib"] == max(s["peak_mib"] for s in timings["stages"]) > 10
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"] == "tsnegrid.manifest"
    assert manifest["seed"] == 777
    assert manifest["config"]["n_images"] == 150
    assert manifest["packages"]["numpy"] == np.__version__
    listed = {f["path"]: f for f in manifest["files"]}
    import hashlib

    for path, entry in listed.items():
        if entry["sha256"] is not None:
            assert hashlib.sha256((out / path).read_bytes()).hexdigest() == entry["sha256"]
    assert listed["timings.json"]["sha256"] is None
    # The tiles are one tree with one hash, recomputed from the files on disk.
    from tsnegrid.report.files import TILE_TREE, tree_sha256

    tiles = [p for p in (out / TILE_TREE).rglob("*") if p.is_file()]
    assert not any(path.startswith(TILE_TREE) for path in listed)
    assert "tiles/map.dzi" in listed and "tiles/cells.json" in listed
    tree = manifest["tile_tree"]
    assert (tree["root"], tree["files"]) == (TILE_TREE, len(tiles)) and len(tiles) > 1
    assert tree["bytes"] == sum(p.stat().st_size for p in tiles)
    assert tree["sha256"] == tree_sha256(out)


@pytest.mark.slow
def test_pages_show_the_run(report):
    out, result = report
    index = (out / "index.md").read_text()
    assert "150 images" in index
    assert f"{result.assignment.rows} rows x {result.assignment.cols} columns" in index
    assignment = (out / "assignment.md").read_text()
    assert "Proven optimal | **yes**" in assignment
    assert f"{result.assignment.cost:.12g}" in assignment
    assert "python generate.py --n 150" in (out / "run.md").read_text()


@pytest.mark.slow
def test_figures_are_opaque_and_within_the_size_budget(report):
    from PIL import Image

    out, _ = report
    for png in (out / "img").iterdir():
        assert png.stat().st_size < 500_000, png.name
        with Image.open(png) as img:
            assert img.mode in ("P", "L", "RGB"), (png.name, img.mode)


@pytest.mark.slow
def test_mkdocs_build_strict_passes(report, tmp_path):
    out, _ = report
    done = mkdocs_build(out, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    site = tmp_path / "site"
    assert (site / "assignment" / "index.html").is_file()
    assert (site / "layout.csv").is_file()
    embedding = (site / "embedding" / "index.html").read_text()
    assert embedding.count('loading="lazy"') == 2
    # the site stays light apart from the zoomable map's tiles and the full-resolution map
    light = [
        p
        for p in site.rglob("*")
        if p.is_file() and "tiles" not in p.parts and not p.name.startswith("map-full")
    ]
    assert sum(p.stat().st_size for p in light) < 25_000_000


def test_md_escape_neutralises_markup():
    nasty = "<script>alert(1)</script> | *bold* [x](y) #h &amp;"
    escaped = md_escape(nasty)
    bare = re.sub(r"&#\d+;", "", escaped)
    for ch in "<>|*[]#&":
        assert ch not in bare
    assert "&#60;script&#62;" in escaped


def test_a_templates_folder_overrides_pages_by_name(tmp_path):
    from tsnegrid.report.pages import render_pages, shipped_templates

    context = {"value": 1}
    (tmp_path / "grid.md.j2").write_text("# My grid {{ value }}\n")
    for stem, _ in PAGES:
        if stem != "grid":
            (tmp_path / f"{stem}.md.j2").write_text(f"{stem} {{{{ page_title }}}}\n")
    pages = {a.path: a.data.decode() for a in render_pages(context, {}, templates=tmp_path)}
    assert pages["grid.md"] == "# My grid 1\n"
    assert pages["run.md"] == "run Run details\n"
    assert (shipped_templates() / "grid.md.j2").is_file()


def test_a_missing_templates_folder_is_a_usage_error(tmp_path):
    from tsnegrid.errors import UsageError
    from tsnegrid.report.pages import environment

    with pytest.raises(UsageError, match=r"--templates .*not a folder"):
        environment(tmp_path / "nope")


@pytest.mark.slow
def test_a_map_over_the_pixel_budget_is_explained_instead_of_linked(report):
    from pathlib import Path

    from tsnegrid.report.context import report_context
    from tsnegrid.report.pages import render_pages

    out, result = report
    context = report_context(result, command=["tsnegrid"], where=Path.cwd())
    run = context["run"]
    assert run["full_map"] and run["map_width"] * run["map_height"] < 10**8
    images = {p.name.rsplit("-", 1)[0]: f"img/{p.name}" for p in (out / "img").iterdir()}
    within = {a.path: a.data.decode() for a in render_pages(context, images)}
    assert images["map-full"] in within["map.md"] and images["map-full"] in within["index.md"]

    del images["map-full"]  # what the figures stage leaves above the budget
    context["run"] = {**run, "full_map": False, "map_width": 30_000, "map_height": 30_000}
    over = {a.path: a.data.decode() for a in render_pages(context, images)}
    assert "map-full" not in over["map.md"] + over["index.md"]
    text = " ".join(over["map.md"].split())
    assert "At 30,000 x 30,000 pixels the map is over the 100-megapixel budget" in text
    assert "Every image's cell is in [layout.csv](layout.csv)." in text
    assert "[Explore the map](map.md)\n" in over["index.md"]


@pytest.mark.slow
def test_every_page_stays_within_its_budget(report):
    from tsnegrid.report.files import MARKDOWN_BUDGET, PAGE_BUDGET, page_weights
    from tsnegrid.results import Artifact

    out, _ = report
    files = [Artifact(p.relative_to(out).as_posix(), p.read_bytes()) for p in out.rglob("*.*")]
    weights = page_weights(files)
    assert set(weights) == {f"{stem}.md" for stem, _ in PAGES}
    assert weights["map.md"][1] > 0 and weights["index.md"][1] > 0  # what they show is counted
    for page, (markdown, loaded) in weights.items():
        assert markdown <= MARKDOWN_BUDGET, page
        assert markdown + loaded <= PAGE_BUDGET, page


@pytest.mark.slow
def test_thousands_of_classes_and_skipped_files_keep_the_pages_small(report):
    import csv
    import dataclasses
    import io
    from pathlib import Path

    from tsnegrid.report.context import LIST_LIMIT, report_context
    from tsnegrid.report.files import MARKDOWN_BUDGET, render_artifacts
    from tsnegrid.results import SkippedFile

    _, result = report
    skipped = tuple(SkippedFile(f"broken/{i:06d}.png", "not an image") for i in range(50_000))
    classes = tuple(f"class-{k:05d}" for k in range(5_000))
    images = dataclasses.replace(result.images, skipped=skipped, class_names=classes)
    big = dataclasses.replace(result, images=images)
    context = report_context(big, command=["tsnegrid"], where=Path.cwd())
    files = {a.path: a.data for a in render_artifacts(big, context)}
    data = files["data.md"].decode()
    assert len(data.encode()) <= MARKDOWN_BUDGET
    assert "There are 5,000 classes: class-00000," in data
    assert f"and {5_000 - LIST_LIMIT:,} more." in data
    assert "50,000 files could not be read" in " ".join(data.split())
    assert f"the first {LIST_LIMIT} are listed here, all of them in [skipped.csv]" in " ".join(
        data.split()
    )
    assert data.count("| broken/") == LIST_LIMIT
    rows = list(csv.reader(io.StringIO(files["skipped.csv"].decode())))
    assert rows[0] == ["name", "reason"] and len(rows) == 50_001
    assert rows[-1] == ["broken/049999.png", "not an image"]


def test_layout_csv_quotes_awkward_names_and_keeps_each_float_exactly():
    """Names with commas and quotes come back intact through a CSV reader, an image without a
    label has an empty label, and every coordinate reads back as the same float."""
    import csv
    import io
    from types import SimpleNamespace
    from typing import Any

    from tsnegrid.report.files import layout_csv

    names = ["a,b.png", 'say "hi".png', "plain.png", "line\nbreak.png"]
    points = np.array([[0.1, 1e-7], [1 / 3, 0.0], [1.0, 2.5e-300], [0.5, 0.75]])
    result: Any = SimpleNamespace(  # the fields layout_csv reads of a RunResult
        images=SimpleNamespace(
            names=names, labels=np.array([0, -1, 1, 1]), class_names=["x,y", "z"]
        ),
        assignment=SimpleNamespace(cols=3, node_of_point=np.array([0, 4, 8, 5])),
        final_nodes=np.array([1, 4, 7, 2]),
        embedding=SimpleNamespace(points=points),
    )
    rows = list(csv.reader(io.StringIO(layout_csv(result))))
    assert rows[0] == ["index", "name", "label", "x", "y", "row", "col", "lap_row", "lap_col"]
    assert [r[1] for r in rows[1:]] == names
    assert [r[2] for r in rows[1:]] == ["x,y", "", "z", "z"]
    assert np.array_equal([[float(r[3]), float(r[4])] for r in rows[1:]], points)
    assert [r[5:] for r in rows[1:]] == [
        ["0", "1", "0", "0"],
        ["1", "1", "1", "1"],
        ["2", "1", "2", "2"],
        ["0", "2", "1", "2"],
    ]
