"""Changes against a baseline report: read from a folder or a site, compared, shown safely."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tsnegrid.report import baseline as baseline_module
from tsnegrid.report import summary
from tsnegrid.report.baseline import Placement, Snapshot, read_baseline, snapshot
from tsnegrid.report.changes import (
    changes_figure,
    changes_json,
    compare_with_baseline,
    no_baseline,
)
from tsnegrid.report.pages import environment

EVIL = "<img src=x onerror=alert(1)>*[x](javascript:alert(2))*|"


def report_files(
    placements: list[tuple[str, int, int]],
    *,
    rows: int = 4,
    cols: int = 5,
    seed: int = 777,
    dpq: float = 0.9,
    tsne_seconds: float = 2.0,
    out: str = "docs",
) -> dict[str, Any]:
    """The four files of a report, as a report writes them (only the fields compared)."""
    layout = "index,name,label,x,y,row,col\n" + "".join(
        f'{i},"{name}",0,0.5,0.5,{r},{c}\n' for i, (name, r, c) in enumerate(placements)
    )
    return {
        "manifest": {
            "schema": "tsnegrid.manifest",
            "schema_version": 1,
            "config": {"seed": seed, "pca": 100, "out": out, "dataset": None},
            "seed": seed,
            "run": {"rows": rows, "cols": cols, "dataset": "images"},
            "provenance": {
                "version": "0.1.0",
                "git_commit": "ab" * 20,
                "config_hash": "d04dc89d1469",
                "build_date": "2026-11-01T00:00:00Z",
            },
            "files": [{"path": "../../outside.txt", "bytes": 1, "sha256": None}],
        },
        "quality": {
            "schema": "tsnegrid.quality",
            "schema_version": 1,
            "layouts": [
                {
                    "name": "t-SNE + LAP",
                    "dpq16": {"value": dpq},
                    "class_coherence": 0.5,
                    "neighbourhood_preservation": {"grid": [0.1] * 10, "embedding": None},
                    "displacement_cells": {"mean": 1.0},
                }
            ],
        },
        "timings": {
            "schema": "tsnegrid.timings",
            "schema_version": 1,
            "total_seconds": tsne_seconds + 1.0,
            "stages": [{"name": "load", "seconds": 1.0}, {"name": "tsne", "seconds": tsne_seconds}],
        },
        "layout": layout,
    }


def write_report(folder: Path, files: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("manifest", "quality", "timings"):
        (folder / f"{name}.json").write_text(json.dumps(files[name]))
    (folder / "layout.csv").write_text(files["layout"])
    return folder


def current_of(files: dict[str, Any]) -> Snapshot:
    return snapshot(files["manifest"], files["quality"], files["timings"], files["layout"])


BEFORE = [("a.png", 0, 0), ("b.png", 0, 1), ("c.png", 1, 1), ("gone.png", 3, 4)]
AFTER = [("a.png", 0, 0), ("b.png", 3, 1), ("c.png", 2, 3), ("new.png", 0, 4)]


@pytest.fixture()
def pair(tmp_path: Path) -> tuple[Path, Snapshot]:
    base = write_report(tmp_path / "before", report_files(BEFORE, dpq=0.8, tsne_seconds=3.0))
    after = report_files(AFTER, seed=5, out="/elsewhere")
    return base, current_of(after)


def test_a_folder_baseline_gives_added_removed_and_moved_images(pair):
    base, current = pair
    changes = compare_with_baseline(str(base), current)
    s = changes.summary
    assert s["compared"] is True
    assert s["schema"] == "tsnegrid.changes"
    i = s["images"]
    assert (i["n_baseline"], i["n_current"], i["n_added"], i["n_removed"]) == (4, 4, 1, 1)
    assert (i["n_kept"], i["n_moved"]) == (3, 2)
    assert i["added"] == ["new.png"]
    assert i["removed"] == ["gone.png"]
    assert [m["name"] for m in i["moved"]] == ["b.png", "c.png"]  # longest first
    assert i["moved"][0] == {"name": "b.png", "from": [0, 1], "to": [3, 1], "cells": 3.0}
    assert i["moved"][1]["cells"] == pytest.approx(np.hypot(1, 2))
    moves = i["moves"]
    assert moves["max"] == 3.0
    assert moves["mean"] == pytest.approx((3.0 + np.hypot(1, 2)) / 3)
    counts = {b["label"]: b["count"] for b in moves["histogram"]}
    assert counts["same cell"] == 1
    assert counts["2 to 4"] == 2
    assert sum(counts.values()) == 3


def test_the_move_grid_marks_new_images_and_leaves_empty_cells_blank(pair):
    base, current = pair
    cells = compare_with_baseline(str(base), current).moved_cells
    assert cells is not None
    assert cells.shape == (4, 5)
    assert cells[0, 0] == 0.0
    assert cells[3, 1] == 3.0
    assert cells[0, 4] == -1.0  # new.png
    assert np.isnan(cells[3, 4])  # where gone.png was: empty now
    assert np.count_nonzero(np.isfinite(cells)) == 4


def test_quality_time_and_config_deltas(pair):
    base, current = pair
    s = compare_with_baseline(str(base), current).summary
    dpq = next(q for q in s["quality"] if q["measure"] == "DPQ16")
    assert (dpq["baseline"], dpq["current"]) == (0.8, 0.9)
    assert dpq["delta"] == pytest.approx(0.1)
    assert not any("t-SNE, k" in q["measure"] for q in s["quality"])  # null in both: skipped
    tsne = next(t for t in s["timings"] if t["stage"] == "tsne")
    assert (tsne["baseline"], tsne["current"], tsne["delta"]) == (3.0, 2.0, -1.0)
    assert s["timings"][-1] == {"stage": "total", "baseline": 4.0, "current": 3.0, "delta": -1.0}
    assert s["config"] == [{"field": "seed", "baseline": "777", "current": "5"}]  # not "out"
    assert s["baseline"]["config_hash"] == "d04dc89d1469"
    assert json.loads(changes_json(compare_with_baseline(str(base), current))) == s


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_site_url_baseline_reads_the_same_files(pair, tmp_path):
    base, current = pair
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    write_report(site / "sub", report_files(BEFORE, dpq=0.8, tsne_seconds=3.0))
    with serving(site) as url:
        from_site = compare_with_baseline(f"{url}/sub/", current)
        without_slash = compare_with_baseline(f"{url}/sub", current)
    from_folder = compare_with_baseline(str(base), current)
    assert from_site.summary["compared"] is True
    assert from_site.summary["images"] == from_folder.summary["images"]
    assert from_site.summary["quality"] == from_folder.summary["quality"]
    assert without_slash.summary["images"] == from_folder.summary["images"]
    assert from_site.summary["baseline"]["source"] == f"{url}/sub/"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_missing_unreachable_and_404_baselines_give_notes(pair, tmp_path):
    _, current = pair
    missing = compare_with_baseline(str(tmp_path / "nowhere"), current).summary
    assert missing["compared"] is False
    assert "is not a folder or an http(s) URL" in missing["notes"][0]
    unreachable = compare_with_baseline(f"http://127.0.0.1:{closed_port()}/", current).summary
    assert unreachable["compared"] is False
    assert "unreachable" in unreachable["notes"][0]
    (tmp_path / "empty").mkdir()
    with serving(tmp_path / "empty") as url:
        not_found = compare_with_baseline(url, current).summary
    assert "manifest.json: HTTP 404" in not_found["notes"][0]
    empty = compare_with_baseline(str(tmp_path / "empty"), current).summary
    assert "manifest.json is missing" in empty["notes"][0]
    assert compare_with_baseline(str(tmp_path / "empty"), current).moved_cells is None


def test_a_server_that_never_answers_times_out_into_a_note(pair):
    _, current = pair
    with socket.socket() as listener:  # accepts connections (backlog) but never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        s = compare_with_baseline(url, current, timeout=0.3).summary
    assert s["compared"] is False
    assert "unreachable" in s["notes"][0]


def test_an_incompatible_baseline_is_a_note(pair, tmp_path):
    _, current = pair
    files = report_files(BEFORE)
    files["manifest"]["schema_version"] = 2
    s = compare_with_baseline(str(write_report(tmp_path / "v2", files)), current).summary
    assert s["compared"] is False
    assert "manifest.json has schema version 2, this version reads 1" in s["notes"][0]
    other = report_files(BEFORE)
    other["manifest"]["run"] = "not a mapping"
    other["layout"] = "name,row,col\na.png,x,1\n"
    s = compare_with_baseline(str(write_report(tmp_path / "bad", other)), current).summary
    assert s["compared"] is False
    assert "layout.csv is not a tsnegrid layout" in s["notes"][0]
    not_json = write_report(tmp_path / "nj", report_files(BEFORE))
    (not_json / "manifest.json").write_text("<html>not json</html>")
    s = compare_with_baseline(str(not_json), current).summary
    assert s["notes"] == ["The baseline was not compared: manifest.json is not JSON."]


def test_a_missing_quality_file_only_skips_that_part(pair, tmp_path):
    base, current = pair
    (base / "quality.json").unlink()
    s = compare_with_baseline(str(base), current).summary
    assert s["compared"] is True
    assert s["quality"] == []
    assert s["notes"] == ["quality.json is missing from the baseline; not compared"]
    assert s["timings"]


def test_a_malicious_baseline_is_neutralised(pair, tmp_path, monkeypatch):
    _, current = pair
    outside = tmp_path / "secret.csv"
    outside.write_text("index,name,label,x,y,row,col\n0,SECRET,0,0,0,0,0\n")
    files = report_files([(EVIL, 0, 0), ("../../etc/passwd", 1, 1), ("a.png", 2, 2)])
    files["manifest"]["config"]["seed"] = EVIL * 20
    files["quality"]["layouts"][0]["name"] = "t-SNE + LAP"
    files["timings"]["stages"][0]["name"] = EVIL
    evil = write_report(tmp_path / "evil", files)
    s = compare_with_baseline(str(evil), current).summary
    assert s["compared"] is True
    assert EVIL in s["images"]["removed"]  # a name, as data
    assert "../../etc/passwd" in s["images"]["removed"]
    seed = next(c for c in s["config"] if c["field"] == "seed")
    assert len(seed["baseline"]) <= 120  # cut short
    page = render_page(compare_with_baseline(str(evil), current))
    assert "<img" not in page and "<" not in page.split("# Changes", 1)[1].split("---")[0]
    assert "](javascript" not in page
    assert "&#60;img src=x onerror=alert(1)&#62;" in page
    # a layout linked to a file outside the folder is refused, not followed
    (evil / "layout.csv").unlink()
    (evil / "layout.csv").symlink_to(outside)
    s = compare_with_baseline(str(evil), current).summary
    assert s["compared"] is False
    assert "SECRET" not in json.dumps(s)


def test_huge_baseline_files_are_refused_without_reading_them_whole(pair, tmp_path, monkeypatch):
    base, current = pair
    monkeypatch.setattr(baseline_module, "MAX_JSON_BYTES", 1000)
    monkeypatch.setattr(baseline_module, "MAX_LAYOUT_BYTES", 2000)
    (base / "timings.json").write_text(" " * 5000 + "{}")
    s = compare_with_baseline(str(base), current).summary
    assert s["compared"] is True
    assert s["notes"] == ["timings.json is larger than 0 MiB; not compared"]
    (base / "layout.csv").write_text("index,name,label,x,y,row,col\n" + "0,a,0,0,0,0,0\n" * 500)
    s = compare_with_baseline(str(base), current).summary
    assert s["compared"] is False
    assert "layout.csv is larger than" in s["notes"][0]


def render_page(changes: Any, img: dict[str, str] | None = None) -> str:
    files = report_files(AFTER)
    context = {
        "changes": changes.summary,
        "img": img or {},
        "run": {
            "source": "a folder",
            "dataset_sha256": "0" * 64,
            "n_images": 4,
            "n_available": 4,
            "rows": 4,
            "cols": 5,
            "seed": 5,
            "solver": "auto",
        },
        "provenance": {
            **files["manifest"]["provenance"],
            "git_dirty": False,
            "command": "python generate.py",
        },
    }
    return environment().get_template("changes.md.j2").render(**context)


def test_the_page_shows_counts_moves_deltas_and_the_figure(pair):
    base, current = pair
    changes = compare_with_baseline(str(base), current)
    page = render_page(changes, {"changes": "img/changes-0123abcd.png"})
    assert page.startswith("# Changes\n")
    assert "| Added | 1 |" in page
    assert "| Kept, moved to another cell | 2 |" in page
    assert "![Where images moved since the baseline](img/changes-0123abcd.png)" in page
    assert "    | b.png | 0, 1 | 3, 1 | 3.00 |" in page
    assert "| t-SNE + LAP | DPQ16 | 0.800 | 0.900 | +0.100 |" in page
    assert "| seed | 777 | 5 |" in page
    assert "    - new.png" in page
    assert "Provenance of this report" in page


def test_the_page_without_a_baseline_says_how_to_give_one(pair, tmp_path):
    _, current = pair
    page = render_page(no_baseline())
    assert '!!! note "Not compared"' in page
    assert "--baseline" in page
    page = render_page(compare_with_baseline(str(tmp_path / "nowhere"), current))
    assert "is not a folder" in page
    assert "![" not in page


def test_the_figure_colours_the_current_grid(pair):
    base, current = pair
    changes = compare_with_baseline(str(base), current)
    figure = changes_figure(changes)
    assert figure is not None
    arrays: list[np.ma.MaskedArray[Any, Any]] = [
        np.ma.asarray(image.get_array()) for image in figure.axes[0].images
    ]
    moved, new = arrays
    assert moved.shape == (4, 5)
    assert moved[3, 1] == 3.0
    assert np.ma.count(new) == 1  # the one new image
    assert changes_figure(no_baseline()) is None


def test_the_job_summary_leads_with_the_changes(pair, tmp_path, capsys):
    base, current = pair
    report = write_report(tmp_path / "report", report_files(AFTER))
    files = report_files(AFTER)
    files["manifest"]["run"].update(
        n_images=4, n_available=4, solver="auto", cost=1.0, optimal=True
    )
    (report / "manifest.json").write_text(json.dumps(files["manifest"]))
    changes = compare_with_baseline(str(base), current)
    changes.summary["config"].append({"field": EVIL, "baseline": "1", "current": "2"})
    (report / "changes.json").write_bytes(changes_json(changes))
    assert summary.main([str(report)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### Changes since the baseline")
    assert out.index("### Changes") < out.index("### tsnegrid report")
    assert "| 4 (was 4) | 1 | 1 | 2 | 1.75 |" in out
    assert "| DPQ16 | 0.800 | 0.900 | +0.100 |" in out
    assert "<img" not in out
    (report / "changes.json").write_bytes(changes_json(compare_with_baseline("/nowhere", current)))
    assert summary.main([str(report)]) == 0
    assert "is not a folder or an http(s) URL" in capsys.readouterr().out
    (report / "changes.json").write_bytes(changes_json(no_baseline()))  # none asked for
    assert summary.main([str(report)]) == 0
    assert capsys.readouterr().out.startswith("### tsnegrid report")


def test_reading_a_folder_directly(pair):
    base, _ = pair
    snap = read_baseline(str(base))
    assert snap.layout[0] == Placement("a.png", 0, 0)
    assert snap.manifest["seed"] == 777


def test_a_server_that_drips_bytes_is_cut_off(pair):
    _, current = pair

    class Drip(QuietHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    server.daemon_threads = True
    server.block_on_close = False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        s = compare_with_baseline(url, current, timeout=0.2).summary
    finally:
        server.shutdown()
        server.server_close()
    assert s["compared"] is False
    assert "manifest.json took longer than 0.6 s to download" in s["notes"][0]
