"""IDX reading: round trips on small files the tests write, and every kind of corruption."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from tsnegrid.data.idx import (
    IDX_NAMES,
    find_idx_files,
    read_idx_images,
    read_idx_labels,
    read_idx_pair,
)
from tsnegrid.errors import InputError


def idx_bytes(values: np.ndarray, magic: int) -> bytes:
    header = struct.pack(f">I{values.ndim}I", magic, *values.shape)
    return header + values.astype(np.uint8).tobytes()


def write(path: Path, data: bytes) -> Path:
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as stream:
            stream.write(data)
    else:
        path.write_bytes(data)
    return path


def small_images(n: int = 5, rows: int = 4, cols: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, rows, cols), dtype=np.uint8)


def small_labels(n: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 10, size=n, dtype=np.uint8)


def write_set(
    folder: Path, *, n_train: int = 5, n_test: int = 3, gz: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write the four standard files; returns the arrays written, by file name."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        IDX_NAMES[0]: small_images(n_train, seed=seed),
        IDX_NAMES[1]: small_labels(n_train, seed=seed),
        IDX_NAMES[2]: small_images(n_test, seed=seed + 1),
        IDX_NAMES[3]: small_labels(n_test, seed=seed + 1),
    }
    for name, values in arrays.items():
        magic = 0x803 if values.ndim == 3 else 0x801
        write(folder / (name + (".gz" if gz else "")), idx_bytes(values, magic))
    return arrays


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    images, labels = small_images(), small_labels()
    images_path = write(tmp_path / f"img{suffix}", idx_bytes(images, 0x803))
    labels_path = write(tmp_path / f"lab{suffix}", idx_bytes(labels, 0x801))
    pixels, read_labels = read_idx_pair(images_path, labels_path)
    assert pixels.dtype == np.uint8
    assert read_labels.dtype == np.int64
    np.testing.assert_array_equal(pixels, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_find_prefers_plain_and_accepts_gz_and_dotted_names(tmp_path: Path) -> None:
    assert find_idx_files(tmp_path / "missing") is None
    assert find_idx_files(tmp_path) is None
    write_set(tmp_path, gz=True)
    (tmp_path / "train-images.idx3-ubyte").write_bytes(b"")  # ignored: the .gz comes first
    files = find_idx_files(tmp_path)
    assert files is not None
    assert files.train_images.name == "train-images-idx3-ubyte.gz"
    (tmp_path / "t10k-labels-idx1-ubyte.gz").rename(tmp_path / "t10k-labels.idx1-ubyte.gz")
    files = find_idx_files(tmp_path)
    assert files is not None
    assert files.test_labels.name == "t10k-labels.idx1-ubyte.gz"


def test_partial_set_names_the_missing_files(tmp_path: Path) -> None:
    write_set(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(InputError, match=r"t10k-images-idx3-ubyte.*missing") as info:
        find_idx_files(tmp_path)
    assert "train-images" not in str(info.value)


def test_wrong_magic_in_image_file(tmp_path: Path) -> None:
    path = write(tmp_path / "img", idx_bytes(small_images(), 0x803))
    swapped = write(tmp_path / "swapped", idx_bytes(small_labels(), 0x801))
    with pytest.raises(InputError, match=r"img: magic number 0x00000802, expected 0x00000803"):
        read_idx_images(write(path, b"\0\0\x08\x02" + path.read_bytes()[4:]))
    with pytest.raises(InputError, match="0x00000801, expected 0x00000803"):
        read_idx_images(swapped)


def test_wrong_magic_in_label_file(tmp_path: Path) -> None:
    path = write(tmp_path / "lab", idx_bytes(small_images(), 0x803))
    with pytest.raises(InputError, match=r"lab: magic number 0x00000803, expected 0x00000801"):
        read_idx_labels(path)


@pytest.mark.parametrize("cut", [0, 3, 10])
def test_file_shorter_than_header(tmp_path: Path, cut: int) -> None:
    path = write(tmp_path / "img", idx_bytes(small_images(), 0x803)[:cut])
    with pytest.raises(InputError, match=r"img: \d+ bytes, shorter than the 16-byte IDX images"):
        read_idx_images(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("change", [-1, +7])
def test_data_length_disagrees_with_header(tmp_path: Path, suffix: str, change: int) -> None:
    data = idx_bytes(small_images(), 0x803)
    data = data[:change] if change < 0 else data + bytes(change)
    path = write(tmp_path / f"img{suffix}", data)
    expected = 60 + change
    with pytest.raises(InputError, match=rf"5 x 4 x 3 = 60 bytes .* holds {expected};"):
        read_idx_images(path)


def test_label_count_must_match_image_count(tmp_path: Path) -> None:
    images_path = write(tmp_path / "img", idx_bytes(small_images(5), 0x803))
    labels_path = write(tmp_path / "lab", idx_bytes(small_labels(4), 0x801))
    with pytest.raises(InputError, match=r"lab: 4 labels but img has 5 images"):
        read_idx_pair(images_path, labels_path)


def test_label_out_of_range(tmp_path: Path) -> None:
    labels = small_labels(6)
    labels[3] = 10
    path = write(tmp_path / "lab", idx_bytes(labels, 0x801))
    with pytest.raises(InputError, match=r"label 10 at position 3 is outside 0\.\.9"):
        read_idx_labels(path)
    assert read_idx_labels(path, n_classes=11)[3] == 10


def test_gz_name_on_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "img.gz"
    path.write_bytes(idx_bytes(small_images(), 0x803))
    with pytest.raises(InputError, match=r"img\.gz: cannot be read \(.*gzip"):
        read_idx_images(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    path = write(tmp_path / "img.gz", idx_bytes(small_images(50, 28, 28), 0x803))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(InputError, match=r"img\.gz: cannot be read"):
        read_idx_images(path)
