import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tsnegrid.report.figures import class_palette
from tsnegrid.report.mosaic import MapGeometry, compose_mosaic
from tsnegrid.report.tiles import cell_layout_files, deep_zoom, level_size, max_level


def gradient(height: int, width: int, channels: int = 0) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (height, width, channels) if channels else (height, width)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def by_level(files: list[tuple[str, bytes]]) -> dict[int, dict[tuple[int, int], Image.Image]]:
    levels: dict[int, dict[tuple[int, int], Image.Image]] = {}
    for path, data in files[1:]:
        match = re.fullmatch(r"map_files/(\d+)/(\d+)_(\d+)\.png", path)
        assert match, path
        level, col, row = map(int, match.groups())
        levels.setdefault(level, {})[col, row] = Image.open(io.BytesIO(data))
    return levels


@pytest.mark.parametrize(("width", "height"), [(1, 1), (2, 1), (300, 200), (513, 1000)])
def test_level_count_is_ceil_log2_plus_one_and_level_0_is_one_pixel(width, height):
    files = deep_zoom(gradient(height, width), tile_px=256, overlap=1)
    levels = by_level(files)
    expected = math.ceil(math.log2(max(width, height))) + 1
    assert max_level(width, height) + 1 == expected
    assert sorted(levels) == list(range(expected))
    assert list(levels[0]) == [(0, 0)]
    assert levels[0][0, 0].size == (1, 1)
    assert level_size(width, height, expected - 1) == (width, height)


def test_descriptor_follows_the_deep_zoom_schema():
    files = deep_zoom(gradient(200, 300), tile_px=128, overlap=2)
    path, xml = files[0]
    assert path == "map.dzi"
    text = xml.decode()
    assert 'xmlns="http://schemas.microsoft.com/deepzoom/2008"' in text
    assert 'Format="png" Overlap="2" TileSize="128"' in text
    assert '<Size Width="300" Height="200"/>' in text


def test_tile_sizes_include_the_overlap_on_inner_edges_only():
    # 300 x 200 with 128-pixel tiles: columns of 128, 128, 44; rows of 128, 72.
    levels = by_level(deep_zoom(gradient(200, 300), tile_px=128, overlap=1))
    top = levels[max(levels)]
    assert sorted(top) == [(c, r) for c in range(3) for r in range(2)]
    assert top[0, 0].size == (129, 129)
    assert top[1, 0].size == (130, 129)
    assert top[2, 0].size == (45, 129)
    assert top[1, 1].size == (130, 73)
    assert top[2, 1].size == (45, 73)
    # One level down: 150 x 100, two columns (128 + 22), one row.
    below = levels[max(levels) - 1]
    assert sorted(below) == [(0, 0), (1, 0)]
    assert below[0, 0].size == (129, 100)
    assert below[1, 0].size == (23, 100)


@pytest.mark.parametrize("channels", [0, 3])
def test_top_level_reassembles_to_the_mosaic(channels):
    mosaic = gradient(200, 300, channels)
    tile_px, overlap = 64, 1
    levels = by_level(deep_zoom(mosaic, tile_px=tile_px, overlap=overlap))
    out = np.zeros_like(mosaic)
    for (col, row), tile in levels[max(levels)].items():
        assert tile.mode == ("L" if channels == 0 else "RGB")
        left = overlap if col > 0 else 0
        upper = overlap if row > 0 else 0
        core = np.asarray(tile)[upper : upper + tile_px, left : left + tile_px]
        out[
            row * tile_px : row * tile_px + core.shape[0],
            col * tile_px : col * tile_px + core.shape[1],
        ] = core
    np.testing.assert_array_equal(out, mosaic)


def test_lower_levels_are_box_averages():
    mosaic = np.zeros((4, 4), dtype=np.uint8)
    mosaic[:2, :2] = 200  # top-left quarter bright
    levels = by_level(deep_zoom(mosaic, tile_px=256))
    assert np.asarray(levels[1][0, 0]).tolist() == [[200, 0], [0, 0]]
    assert np.asarray(levels[0][0, 0]).tolist() == [[50]]


def test_bytes_are_deterministic_and_formats_checked():
    mosaic = gradient(90, 70, 3)
    assert deep_zoom(mosaic, tile_px=32) == deep_zoom(mosaic, tile_px=32)
    jpg = deep_zoom(mosaic, tile_px=32, fmt="jpg")
    assert jpg[1][0].endswith(".jpg")
    assert jpg[1][1][:2] == b"\xff\xd8"
    with pytest.raises(ValueError, match="fmt 'gif'"):
        deep_zoom(mosaic, fmt="gif")


def layout_for_test(part_bytes=None):
    # 3 images on a 2 x 3 grid of 4 x 5 (h x w) images; node r*cols + c with row 0 at the bottom.
    rows, cols, h, w = 2, 3, 4, 5
    node_of_point = np.array([0, 5, 1], dtype=np.intp)  # bottom-left, top-right, bottom-middle
    names = ("a/zero.png", "b/<five>.png", "a/one.png")
    labels = np.array([0, 1, -1], dtype=np.int64)
    files = cell_layout_files(
        names,
        labels,
        ("cat", "dog"),
        node_of_point,
        rows,
        cols,
        (h, w),
        version="abc",
        part_bytes=part_bytes,
    )
    return read_layout(dict(files)), (rows, cols, h, w, node_of_point, names)


def read_layout(files):
    """cells.json with its parts, as the viewer reads them: part k from cells/<k>.json."""
    layout = json.loads(files["cells.json"])
    layout["parts"] = {
        int(path[len("cells/") : -len(".json")]): json.loads(data)
        for path, data in files.items()
        if path.startswith("cells/")
    }
    return layout


def entry_at_pixel(layout, x, y):
    """[index, name, label] of the image at map pixel (x, y), as the viewer finds it."""
    col, image_row = int(x // layout["cell_width"]), int(y // layout["cell_height"])
    k = max(k for k, first in enumerate(layout["part_rows"]) if first <= image_row)
    part = layout["parts"][k]
    assert part["first_row"] == layout["part_rows"][k]
    return part["cells"][(image_row - part["first_row"]) * layout["cols"] + col]


def name_at_pixel(layout, x, y):
    entry = entry_at_pixel(layout, x, y)
    return None if entry is None else entry[1]


def test_cell_layout_maps_a_pixel_of_the_mosaic_to_its_image():
    layout, (rows, cols, h, w, node_of_point, names) = layout_for_test()
    assert layout["schema"] == "tsnegrid.cells"
    assert (layout["width"], layout["height"]) == (cols * w, rows * h)
    # Check against the mosaic itself: paint image i with value i + 1 and read pixels back.
    pixels = np.stack([np.full((h, w), i + 1, dtype=np.uint8) for i in range(len(names))])
    plain = MapGeometry(scale=1, gutter=0, background=(0,))
    mosaic = compose_mosaic(pixels, node_of_point, rows, cols, geometry=plain)
    for y in range(mosaic.shape[0]):
        for x in range(mosaic.shape[1]):
            value = int(mosaic[y, x])
            assert name_at_pixel(layout, x, y) == (names[value - 1] if value else None)
    # The bottom-left image sits in the bottom band of the picture.
    assert name_at_pixel(layout, 1, rows * h - 1) == "a/zero.png"
    assert name_at_pixel(layout, cols * w - 1, 0) == "b/<five>.png"
    assert layout["parts"][0]["cells"] == [
        None,
        None,
        [1, "b/<five>.png", 1],
        [0, "a/zero.png", 0],
        [2, "a/one.png", -1],
        None,
    ]


@pytest.mark.parametrize("part_bytes", [1, 60, 98, 99, 10_000])
def test_the_cell_layout_in_parts_of_whole_rows_finds_the_same_images(part_bytes):
    whole, (rows, cols, h, w, _, _) = layout_for_test()
    parts, _ = layout_for_test(part_bytes)
    assert len(whole["parts"]) == 1
    assert parts["part_rows"] == sorted(parts["part_rows"]) and parts["part_rows"][0] == 0
    assert len(parts["parts"]) == (1 if part_bytes >= 99 else 2)  # both rows in one: 99 bytes
    for y in range(rows * h):
        for x in range(cols * w):
            assert entry_at_pixel(parts, x, y) == entry_at_pixel(whole, x, y)


def test_parts_of_a_large_map_stay_within_their_size():
    from tsnegrid.report.tiles import PART_BYTES

    rows = cols = 300
    names = [
        f"photos/{i // 1000:04d}/{i:08d}-a-rather-long-file-name.jpeg" for i in range(rows * cols)
    ]
    nodes = np.random.default_rng(0).permutation(rows * cols)[: len(names) - 7]
    files = dict(
        cell_layout_files(names, np.zeros(len(nodes), np.int64), ("x",), nodes, rows, cols, 30)
    )
    assert all(len(data) <= PART_BYTES for path, data in files.items() if path != "cells.json")
    assert len(files["cells.json"]) < 10_000
    layout = read_layout(files)
    found = {e[0]: e[1] for part in layout["parts"].values() for e in part["cells"] if e}
    assert found == {i: names[i] for i in range(len(nodes))}
    assert sum(1 for part in layout["parts"].values() for e in part["cells"] if e is None) == 7


def test_cell_layout_carries_labels_classes_and_legend_colours():
    layout, _ = layout_for_test()
    assert [e[2] for e in layout["parts"][0]["cells"] if e] == [1, 0, -1]
    assert layout["class_names"] == ["cat", "dog"]
    assert layout["counts"] == [1, 1]  # the image without a class is in no count
    assert layout["n_images"] == 3
    palette = class_palette(2)
    expected = [
        "#{:02x}{:02x}{:02x}".format(*(round(v * 255) for v in palette(k)[:3])) for k in range(2)
    ]
    assert layout["colors"] == expected
    assert layout["version"] == "abc"
    assert re.fullmatch(r"#[0-9a-f]{6}", layout["unknown_color"])


def test_map_artifacts_and_viewer_assets_hold_the_tiles_layout_and_the_viewer(blobs):
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    from tsnegrid.report.encode import MapCells, map_artifacts
    from tsnegrid.report.files import viewer_assets
    from tsnegrid.report.pages import shipped_templates

    rows, cols = 6, 7
    node_of_point = np.random.default_rng(0).permutation(rows * cols)[: len(blobs.names)]
    mosaic = compose_mosaic(blobs.pixels, node_of_point, rows, cols)
    cells = MapCells(blobs.names, blobs.labels, blobs.class_names, node_of_point, rows, cols)
    made = map_artifacts(mosaic, cells)
    with ThreadPoolExecutor(2) as pool:
        assert map_artifacts(mosaic, cells, pool=pool) == made  # same bytes on worker threads
    assert made[0].path.startswith("img/map-full-")
    files = {a.path: a.data for a in [*made, *viewer_assets()]}
    pitch = 8 * 3 + 2  # the blobs' 8 x 8 images scaled 3x, and the gutter
    assert f'Width="{cols * pitch}" Height="{rows * pitch}"' in files["tiles/map.dzi"].decode()
    layout = read_layout({p.removeprefix("tiles/"): d for p, d in files.items()})
    assert (layout["rows"], layout["cols"], layout["cell_width"]) == (rows, cols, pitch)
    found = {e[0]: e[1] for part in layout["parts"].values() for e in part["cells"] if e}
    assert found == dict(enumerate(blobs.names))
    tiles = b"".join(data for path, data in files.items() if path.startswith("tiles/map"))
    assert layout["version"] == hashlib.sha256(tiles).hexdigest()[:12]
    # The page and mkdocs.yml name files that the report really writes.
    page = (shipped_templates() / "map.md.j2").read_text()
    for attr in ("data-dzi", "data-layout"):
        path = re.search(rf'{attr}="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        assert path in files
    mkdocs = (Path(__file__).resolve().parents[2] / "mkdocs.yml").read_text()
    named = re.findall(r"assets/tsnegrid/[\w./-]+\.(?:js|css)\b", mkdocs)
    assert {"assets/tsnegrid/map-viewer.js", "assets/tsnegrid/map-viewer.css"} <= set(named)
    assert set(named) <= set(files)
    # OpenSeadragon is vendored unchanged (its checksum is recorded) with its licence.
    osd = files["assets/tsnegrid/openseadragon/openseadragon.min.js"]
    source = files["assets/tsnegrid/openseadragon/SOURCE.txt"].decode()
    assert hashlib.sha256(osd).hexdigest() in source
    assert b"OpenSeadragon contributors" in files["assets/tsnegrid/openseadragon/LICENSE.txt"]
    # GLightbox too, vendored with its checksum, for Zensical (whose theme would fetch it).
    lightbox = files["assets/tsnegrid/glightbox/glightbox.min.js"]
    assert (
        hashlib.sha256(lightbox).hexdigest()
        in files["assets/tsnegrid/glightbox/SOURCE.txt"].decode()
    )
    assets = sum(len(data) for path, data in files.items() if path.startswith("assets/"))
    assert assets < 480_000
    assert not any(path.endswith(".md") for path in files)  # a page MkDocs would miss in nav
