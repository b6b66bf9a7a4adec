import numpy as np
import pytest

from tsnegrid.report.mosaic import compose_mosaic


def test_a_photo_like_page_figure_too_big_for_png_becomes_jpeg():
    from tsnegrid.report.encode import PAGE_FIGURE_BYTES, figure_artifact, figure_png

    noise = np.random.default_rng(0).integers(0, 255, (1200, 1200), dtype=np.uint8)
    big = figure_artifact("map", noise)
    assert big.path.startswith("img/map-") and big.path.endswith(".jpg")
    assert len(figure_png(noise)) > PAGE_FIGURE_BYTES
    assert len(big.data) < len(figure_png(noise))
    small = figure_artifact("map", np.zeros((100, 100), dtype=np.uint8))
    assert small.path.endswith(".png")


@pytest.mark.slow
def test_encode_figures_gives_the_same_files_on_any_thread_count_and_reports_progress(blobs):
    from tsnegrid.report.encode import MapCells, NamedFigure, encode_figures, map_artifacts
    from tsnegrid.report.figures import plot_grid
    from tsnegrid.runtime.workers import worker_pool

    rows, cols = 6, 7
    node_of_point = np.random.default_rng(1).permutation(rows * cols)[: len(blobs.names)]
    mosaic = compose_mosaic(blobs.pixels, node_of_point, rows, cols)
    cells = MapCells(blobs.names, blobs.labels, blobs.class_names, node_of_point, rows, cols)

    def figures() -> list[NamedFigure]:  # fresh ones: a drawn figure keeps its layout
        return [NamedFigure("grid", lambda: plot_grid(rows, cols)), NamedFigure("map", mosaic)]

    seen: list[float] = []
    one = encode_figures(figures(), mosaic, cells, progress=seen.append)
    with worker_pool(2) as pool:
        two = encode_figures(figures(), mosaic, cells, pool=pool)
    assert one == two
    assert [a.path.split("-")[0] for a in one[:2]] == ["img/grid", "img/map"]
    assert list(one[2:]) == map_artifacts(mosaic, cells)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 3


def test_a_map_over_the_pixel_budget_exists_as_tiles_only(blobs, monkeypatch):
    from tsnegrid.report import encode

    rows, cols = 6, 7
    node_of_point = np.random.default_rng(2).permutation(rows * cols)[: len(blobs.names)]
    mosaic = compose_mosaic(blobs.pixels, node_of_point, rows, cols)
    cells = encode.MapCells(blobs.names, blobs.labels, blobs.class_names, node_of_point, rows, cols)
    within = encode.map_artifacts(mosaic, cells)
    assert encode.has_full_map(*mosaic.shape[:2])
    monkeypatch.setattr(encode, "FULL_MAP_MAX_PIXELS", mosaic.shape[0] * mosaic.shape[1] - 1)
    assert not encode.has_full_map(*mosaic.shape[:2])
    over = encode.map_artifacts(mosaic, cells)
    assert [a.path for a in within if a.path.startswith("img/")] == [within[0].path]
    assert within[0].path.startswith("img/map-full-")
    assert over == within[1:]  # the same tiles and layout, without the one picture
