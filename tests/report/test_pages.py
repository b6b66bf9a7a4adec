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
