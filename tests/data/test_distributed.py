"""The Dask folder reader gives exactly the ImageSet the one-machine reader gives."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.data.test_folder import BLUE, RED, half_alpha, save, solid, write_bad_files
from tsnegrid.data.distributed import read_image_folder_dask
from tsnegrid.data.folder import read_image_folder
from tsnegrid.errors import InputError, UsageError
from tsnegrid.results import ImageSet


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two single-threaded workers in this process (process workers are tested once, slowly)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster,\
            distributed.Client(cluster) as dask_client:
        yield dask_client


def messy_folder(root: Path) -> Path:
    """Two classes, loose files, odd modes and sizes, and bad files among the good ones."""
    rng = np.random.default_rng(0)
    for i in range(7):
        noise = rng.integers(0, 256, (rng.integers(5, 40), rng.integers(5, 40), 3), np.uint8)
        save(Image.fromarray(noise), root / "cats" / f"n{i}.png")
    save(half_alpha("RGB", BLUE), root / "cats" / "alpha.png")
    save(Image.new("L", (30, 10), 90), root / "dogs" / "grey.jpg")
    solid(root / "dogs" / "red.gif", RED, (9, 17))
    solid(root / "loose.bmp", BLUE)
    write_bad_files(root / "dogs")
    return root


def assert_same(got: ImageSet, want: ImageSet) -> None:
    np.testing.assert_array_equal(got.pixels, want.pixels)
    assert got.pixels.dtype == want.pixels.dtype
    np.testing.assert_array_equal(got.labels, want.labels)
    assert (got.names, got.class_names, got.source) == (want.names, want.class_names, want.source)
    assert got.skipped == want.skipped


@pytest.mark.parametrize("partition_files", [1, 4, 1000])
def test_the_same_imageset_as_one_machine(tmp_path: Path, client: Any, partition_files: int):
    root = messy_folder(tmp_path)
    want = read_image_folder(root, thumb_px=12)
    got = read_image_folder_dask(root, client, thumb_px=12, partition_files=partition_files)
    assert_same(got, want)
    assert len(want.skipped) == 5 and want.n_images == 11


def test_strict_and_unreadable_folders_raise_the_same_errors(tmp_path: Path, client: Any):
    root = messy_folder(tmp_path / "mixed")
    with pytest.raises(InputError) as want:
        read_image_folder(root, strict=True)
    with pytest.raises(InputError) as got:
        read_image_folder_dask(root, client, strict=True, partition_files=2)
    assert str(got.value) == str(want.value) and "drop --strict-input" in str(got.value)
    write_bad_files(tmp_path / "bad")
    with pytest.raises(InputError) as want:
        read_image_folder(tmp_path / "bad")
    with pytest.raises(InputError) as got:
        read_image_folder_dask(tmp_path / "bad", client)
    assert str(got.value) == str(want.value) and "none of its 5 image files" in str(got.value)


def test_workers_with_other_decoders_are_refused(tmp_path: Path, client: Any, monkeypatch):
    from tsnegrid.runtime import cluster

    monkeypatch.setattr(cluster, "_versions_here", lambda: ("0", "1", "2", "3", "4", "5"))
    with pytest.raises(UsageError, match=r"worker .* has tsnegrid .*, this machine tsnegrid 0, "):
        read_image_folder_dask(messy_folder(tmp_path), client)


@pytest.mark.slow
def test_a_local_cluster_of_two_worker_processes(tmp_path: Path):
    pytest.importorskip("distributed")
    root = messy_folder(tmp_path)
    got = read_image_folder_dask(root, "local", local_workers=2, partition_files=3)
    assert_same(got, read_image_folder(root))


def test_without_the_extra_a_usage_error_names_it(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    with pytest.raises(UsageError, match=r"--dask needs .*pip install 'tsnegrid\[dask\]'") as info:
        read_image_folder_dask(messy_folder(tmp_path), "local")
    assert info.value.exit_code == 2


def test_thumbnails_too_small(tmp_path: Path):
    with pytest.raises(UsageError, match="at least 4"):
        read_image_folder_dask(tmp_path, "local", thumb_px=3)
