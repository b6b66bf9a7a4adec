"""Named datasets (digits, MNIST, Fashion-MNIST), sampling and the dataset fingerprint."""

from __future__ import annotations

import gzip
import struct
import warnings
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.error import URLError

import numpy as np
import pytest
import sklearn.datasets

from tsnegrid.data import datasets
from tsnegrid.data.datasets import FASHION_CLASSES, load_dataset
from tsnegrid.data.idx import IDX_NAMES
from tsnegrid.data.sample import fingerprint, sample_images
from tsnegrid.errors import InputError, UsageError
from tsnegrid.results import ImageSet

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


def write_idx_set(folder: Path, *, n_train: int, n_test: int, gz: bool = False) -> np.ndarray:
    """Write the four IDX files of 6 x 5 images; image i is filled with i, label i % 10."""
    folder.mkdir(parents=True)
    suffix = ".gz" if gz else ""
    for n, (images_name, labels_name) in ((n_train, IDX_NAMES[:2]), (n_test, IDX_NAMES[2:])):
        images = np.repeat(np.arange(n, dtype=np.uint8), 30).reshape(n, 6, 5)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for name, values, magic in ((images_name, images, 0x803), (labels_name, labels, 0x801)):
            data = struct.pack(f">I{values.ndim}I", magic, *values.shape) + values.tobytes()
            path = folder / (name + suffix)
            path.write_bytes(gzip.compress(data) if gz else data)
    return np.concatenate([np.arange(n_train), np.arange(n_test)])


def no_download(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("OpenML must not be asked when local files exist")


def tiny_set(n: int = 10) -> ImageSet:
    rng = np.random.default_rng(0)
    return ImageSet(
        pixels=rng.integers(0, 256, size=(n, 3, 2), dtype=np.uint8),
        labels=(np.arange(n) % 3).astype(np.int64),
        class_names=("a", "b", "c"),
        names=tuple(f"x/{i}" for i in range(n)),
        source="test",
    )


def test_digits() -> None:
    images = load_dataset("digits")
    raw = sklearn.datasets.load_digits()
    assert images.pixels.shape == (1797, 8, 8)
    assert images.pixels.dtype == np.uint8
    assert images.n_images == 1797
    np.testing.assert_array_equal(images.pixels, np.round(raw.images * 255 / 16))
    assert images.pixels.max() == 255
    np.testing.assert_array_equal(images.labels, raw.target)
    assert images.labels.dtype == np.int64
    assert images.class_names == tuple("0123456789")
    assert images.names[0] == "digits/0000"
    assert images.names[-1] == "digits/1796"
    assert len(set(images.names)) == 1797
    assert images.source == "scikit-learn digits"


def test_digits_without_the_shipped_file_come_from_load_digits(monkeypatch) -> None:
    import importlib.util

    from tsnegrid.data import datasets

    direct = load_dataset("digits")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # the file is not found
    through_sklearn = datasets._load_digits()
    np.testing.assert_array_equal(through_sklearn.pixels, direct.pixels)
    np.testing.assert_array_equal(through_sklearn.labels, direct.labels)


def test_unknown_dataset_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"unknown dataset 'cifar'; choose one of digits, mnist"):
        load_dataset("cifar")


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool) -> None:
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", no_download)
    fill = write_idx_set(tmp_path / "mnist", n_train=12, n_test=3, gz=gz)
    images = load_dataset("mnist", data_dir=tmp_path)
    assert images.pixels.shape == (15, 6, 5)
    np.testing.assert_array_equal(images.pixels[:, 0, 0], fill)
    np.testing.assert_array_equal(images.labels, np.concatenate([np.arange(12) % 10, [0, 1, 2]]))
    assert images.names[0] == "train/00000"
    assert images.names[11:13] == ("train/00011", "test/00000")
    assert images.class_names == tuple("0123456789")
    assert images.source == f"IDX files in {tmp_path / 'mnist'}"


def test_corrupt_file_in_data_dir_is_an_input_error(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist", n_train=4, n_test=2)
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(InputError, match="t10k-images-idx3-ubyte: the header promises") as info:
        load_dataset("mnist", data_dir=tmp_path)
    assert info.value.exit_code == 3


@pytest.mark.parametrize(
    "error", [URLError("[Errno -3] Temporary failure in name resolution"), OSError("offline\n")]
)
def test_mnist_offline_says_where_to_put_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    calls: list[dict[str, Any]] = []

    def offline(name: str, **kwargs: Any) -> Any:
        calls.append({"name": name, **kwargs})
        raise error

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    with pytest.raises(InputError) as info:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert f"{tmp_path / 'mnist'}/" in message
    assert all(name in message for name in IDX_NAMES)
    assert "OpenML download failed" in message
    assert info.value.exit_code == 3
    assert info.value.__cause__ is error
    assert calls[0]["name"] == "mnist_784"
    assert Path(calls[0]["data_home"]) == tmp_path / "openml"


def test_retry_warnings_are_not_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def flaky(name: str, **kwargs: Any) -> Any:
        warnings.warn("A network error occurred while downloading x. Retrying...", stacklevel=1)
        raise URLError("offline")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", flaky)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(InputError):
        warnings.simplefilter("always")
        load_dataset("mnist", data_dir=tmp_path)
    assert caught == []


def test_no_download_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", no_download)
    with pytest.raises(InputError, match=r"no IDX files in .*mnist/ and downloading is turned off"):
        load_dataset("mnist", data_dir=tmp_path, allow_download=False)


def fake_openml(data: np.ndarray) -> Any:
    target = np.array([str(i % 10) for i in range(len(data))], dtype=object)
    return lambda name, **kwargs: SimpleNamespace(data=data, target=target)


def test_openml_pixels_are_converted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.zeros((15, 784))
    data[1, 29] = 254.6
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_openml(data))
    images = load_dataset("mnist", data_dir=tmp_path)
    assert images.pixels.shape == (15, 28, 28)
    assert images.pixels.dtype == np.uint8
    assert images.pixels[1, 1, 1] == 255
    assert images.pixels.sum() == 255
    assert images.labels.tolist() == [i % 10 for i in range(15)]
    assert images.names[-1] == "openml/00014"
    assert images.source == "OpenML mnist_784"


def test_openml_full_set_gets_train_and_test_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        sklearn.datasets, "fetch_openml", fake_openml(np.zeros((70_000, 784), np.uint8))
    )
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": ()})
    images = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert images.names[59_999:60_001] == ("train/59999", "test/00000")
    assert images.source == "OpenML Fashion-MNIST"
    assert images.class_names == FASHION_CLASSES


def test_openml_wrong_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_openml(np.zeros((4, 100))))
    with pytest.raises(InputError, match=r"expected 784 pixel columns, got shape \(4, 100\)"):
        load_dataset("mnist", data_dir=tmp_path)


def test_fashion_mnist_from_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", no_download)
    write_idx_set(tmp_path / "fashion-mnist", n_train=3, n_test=2, gz=True)
    images = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert images.n_images == 5
    assert images.class_names == FASHION_CLASSES
    assert images.class_names[9] == "Ankle boot"
    assert images.source.endswith("fashion-mnist")


def test_fashion_mnist_from_system_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", no_download)
    write_idx_set(tmp_path / "system", n_train=2, n_test=2, gz=True)
    monkeypatch.setattr(
        datasets, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": (tmp_path / "system",)}
    )
    images = load_dataset("fashion-mnist", data_dir=tmp_path / "empty")
    assert images.n_images == 4
    assert images.source == f"IDX files in {tmp_path / 'system'}"


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist missing")
def test_debian_fashion_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", no_download)
    images = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert images.pixels.shape == (70_000, 28, 28)
    assert np.bincount(images.labels).tolist() == [7_000] * 10
    assert images.names[-1] == "test/09999"
    assert images.source == f"IDX files in {SYSTEM_FASHION}"


def test_sample_is_seeded_sorted_and_without_replacement() -> None:
    images = tiny_set(50)
    first = sample_images(images, 20, seed=7)
    expected = np.sort(np.random.default_rng(7).choice(50, size=20, replace=False))
    assert first.names == tuple(images.names[i] for i in expected)
    np.testing.assert_array_equal(first.pixels, images.pixels[expected])
    np.testing.assert_array_equal(first.labels, images.labels[expected])
    assert len(set(first.names)) == 20
    assert sample_images(images, 20, seed=7).names == first.names
    assert sample_images(images, 20, seed=8).names != first.names
    assert first.class_names == images.class_names


def test_sample_of_everything_is_unchanged() -> None:
    images = tiny_set(5)
    assert sample_images(images, 5, seed=1) is images
    assert sample_images(images, 99, seed=1) is images
    with pytest.raises(UsageError, match="sample size 0"):
        sample_images(images, 0, seed=1)


def test_fingerprint_sees_every_change() -> None:
    images = tiny_set()
    reference = fingerprint(images)
    assert len(reference) == 64
    assert fingerprint(replace(images, source="elsewhere")) == reference
    pixels = images.pixels.copy()
    pixels[3, 1, 0] ^= 1
    labels = images.labels.copy()
    labels[0] = 2
    changed = [
        replace(images, pixels=pixels),
        replace(images, labels=labels),
        replace(images, names=("y/0", *images.names[1:])),
        replace(images, pixels=images.pixels.reshape(10, 2, 3)),
        replace(images, class_names=("a", "b", "d")),
    ]
    assert len({reference, *(fingerprint(other) for other in changed)}) == 6
    empty = ImageSet(np.empty((0, 3, 2), np.uint8), np.empty(0, np.int64), (), (), "none")
    assert fingerprint(empty) != fingerprint(replace(empty, pixels=np.empty((0, 2, 3), np.uint8)))


def test_idx_files_without_images(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist", n_train=0, n_test=0)
    with pytest.raises(InputError, match="the IDX files hold no images"):
        load_dataset("mnist", data_dir=tmp_path)


def test_train_and_test_sizes_must_agree(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist", n_train=2, n_test=2)
    path = tmp_path / "mnist" / IDX_NAMES[2]
    path.write_bytes(struct.pack(">IIII", 0x803, 2, 5, 6) + bytes(60))
    with pytest.raises(InputError, match=r"images of \(5, 6\) pixels but the training images"):
        load_dataset("mnist", data_dir=tmp_path)


def test_image_set_rejects_inconsistent_fields() -> None:
    images = tiny_set()
    with pytest.raises(ValueError, match="names"):
        replace(images, names=images.names[1:])
    with pytest.raises(ValueError, match="labels"):
        replace(images, labels=images.labels.astype(np.int32))
    with pytest.raises(ValueError, match="labels must lie"):
        replace(images, labels=images.labels + 1)
    with pytest.raises(ValueError, match="pixels"):
        replace(images, pixels=images.pixels.astype(np.float32))
