"""The built-in datasets: scikit-learn's digits, MNIST and Fashion-MNIST.

Every loader returns an :class:`ImageSet`. The only side effect is reading files (and, for MNIST
and Fashion-MNIST without local files, OpenML's download into ``data_dir/openml``). A problem with
an input raises :class:`~tsnegrid.errors.InputError` with one line that names the input and the fix.
"""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tsnegrid.config import DatasetName, choices
from tsnegrid.data.idx import IDX_NAMES, IdxFiles, find_idx_files, read_idx_pair
from tsnegrid.errors import InputError, UsageError
from tsnegrid.results import ImageSet
from tsnegrid.runtime.workers import submit, worker_pool

DATASETS: tuple[str, ...] = choices(DatasetName)
"""The names :func:`load_dataset` accepts."""

DIGIT_CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "digits": DIGIT_CLASSES,
    "mnist": DIGIT_CLASSES,
    "fashion-mnist": FASHION_CLASSES,
}
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "mnist": (),
    # Debian's dataset-fashion-mnist package installs the gzipped IDX files here.
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}
"""Folders searched after ``data_dir/<name>``, in order."""
OPENML_NAMES: dict[str, str] = {"mnist": "mnist_784", "fashion-mnist": "Fashion-MNIST"}


def load_dataset(
    name: str, *, data_dir: Path = Path("data"), allow_download: bool = True, threads: int = 1
) -> ImageSet:
    """Load one of the named datasets.

    ``digits`` ships with scikit-learn (1,797 images of 8 x 8, values scaled from 0..16 to
    0..255). ``mnist`` and ``fashion-mnist`` (70,000 images of 28 x 28, train then test) are read
    from the four IDX files in ``data_dir/<name>`` (then, for Fashion-MNIST, Debian's
    ``/usr/share/datasets/fashion-mnist``), else downloaded from OpenML into ``data_dir/openml``.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    data_dir : Path
        The data folder (``data/`` of the project by default).
    allow_download : bool
        Whether OpenML may be asked when there are no local files.
    threads : int
        With 2 or more, the training and test IDX files are read at the same time (their
        decompression releases the GIL); the images are the same.

    Returns
    -------
    ImageSet
        Pixels of shape (n_images, height, width), labels (n_images,), names such as
        ``"train/00000"`` (or ``"digits/0000"``).

    Raises
    ------
    UsageError
        Unknown ``name``.
    InputError
        Corrupt files, or no files and no download (the message says where to put the files).
    """
    if name not in DATASETS:
        raise UsageError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, "
            f"or pass --images DIR for a folder of images"
        )
    if name == "digits":
        return _load_digits()
    for folder in (data_dir / name, *SYSTEM_DIRS[name]):
        files = find_idx_files(folder)
        if files is not None:
            return _load_idx(name, folder, files, threads=threads)
    if not allow_download:
        raise InputError(_no_files_message(name, data_dir, "downloading is turned off"))
    return _load_openml(name, data_dir)


def _load_digits() -> ImageSet:
    images, target = _digits_arrays()
    pixels = np.round(images * (255 / 16)).astype(np.uint8)
    return ImageSet(
        pixels=pixels,
        labels=np.asarray(target, dtype=np.int64),
        class_names=DIGIT_CLASSES,
        names=tuple(f"digits/{index:04d}" for index in range(len(pixels))),
        source="scikit-learn digits",
    )


def _digits_arrays() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The digits' (1797, 8, 8) images (0..16) and their targets, read from the CSV that
    scikit-learn ships as its ``load_digits`` does, without importing scikit-learn (0.6 s);
    through ``load_digits`` itself if the file is not where it used to be."""
    import gzip
    from importlib.util import find_spec

    spec = find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as stream:
                data = np.loadtxt(stream, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1]
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target, np.float64)


def _load_idx(name: str, folder: Path, files: IdxFiles, *, threads: int) -> ImageSet:
    n_classes = len(CLASS_NAMES[name])
    read = partial(read_idx_pair, n_classes=n_classes)
    with worker_pool(min(threads, 2)) as pool:
        train = submit(pool, read, files.train_images, files.train_labels)
        test = submit(pool, read, files.test_images, files.test_labels)
        (train_pixels, train_labels), (test_pixels, test_labels) = train.result(), test.result()
    if train_pixels.shape[1:] != test_pixels.shape[1:]:
        raise InputError(
            f"{files.test_images}: images of {test_pixels.shape[1:]} pixels but the training "
            f"images are {train_pixels.shape[1:]}; the files come from different sets, replace them"
        )
    if len(train_pixels) + len(test_pixels) == 0:
        raise InputError(f"{folder}: the IDX files hold no images; replace them")
    return ImageSet(
        pixels=np.concatenate([train_pixels, test_pixels]),
        labels=np.concatenate([train_labels, test_labels]),
        class_names=CLASS_NAMES[name],
        names=_split_names(len(train_pixels), len(test_pixels)),
        source=f"IDX files in {folder}",
    )


def _split_names(n_train: int, n_test: int) -> tuple[str, ...]:
    train = [f"train/{index:05d}" for index in range(n_train)]
    return tuple(train + [f"test/{index:05d}" for index in range(n_test)])


def _load_openml(name: str, data_dir: Path) -> ImageSet:
    import sklearn.datasets

    openml_name = OPENML_NAMES[name]
    try:
        with warnings.catch_warnings():  # one clear line on failure, not a warning per retry
            warnings.filterwarnings("ignore", "A network error occurred", UserWarning)
            bunch = sklearn.datasets.fetch_openml(
                openml_name,
                version=1,
                data_home=data_dir / "openml",
                as_frame=False,
                parser="liac-arff",
            )
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            _no_files_message(name, data_dir, f"the OpenML download failed: {reason}")
        ) from exc
    data = np.asarray(bunch.data)
    if data.ndim != 2 or data.shape[1] != 28 * 28:
        raise InputError(
            f"OpenML {openml_name} in {data_dir / 'openml'}: expected 784 pixel columns, got "
            f"shape {data.shape}; delete that folder and download again"
        )
    n_images = len(data)
    if data.dtype != np.uint8:  # liac-arff gives float64 pixels 0..255
        data = np.clip(np.round(data), 0, 255).astype(np.uint8)
    return ImageSet(
        pixels=data.reshape(n_images, 28, 28),
        labels=np.asarray(bunch.target).astype(np.int64),
        class_names=CLASS_NAMES[name],
        names=(
            _split_names(60_000, 10_000)
            if n_images == 70_000
            else tuple(f"openml/{index:05d}" for index in range(n_images))
        ),
        source=f"OpenML {openml_name}",
    )


def _no_files_message(name: str, data_dir: Path, reason: str) -> str:
    where = data_dir / name
    extra = " or apt-get install dataset-fashion-mnist," if name == "fashion-mnist" else ""
    return (
        f"{name}: no IDX files in {where}/ and {reason}; put {', '.join(IDX_NAMES)} "
        f"(each may end in .gz) in {where}/,{extra} or run once with internet access"
    )
