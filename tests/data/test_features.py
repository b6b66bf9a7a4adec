import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.reportkit import ROOT
from tsnegrid.data.features import load_features
from tsnegrid.errors import InputError

NAMES = ("a.png", "b/c.png", "d e.png")


def test_npy_rows_follow_the_image_order(tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.arange(6, dtype=np.float32).reshape(3, 2))
    feats = load_features(path, NAMES)
    assert feats.dtype == np.float64
    assert feats.tolist() == [[0, 1], [2, 3], [4, 5]]


def test_csv_rows_are_matched_by_name(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("name,f1,f2\nd e.png,5,6\nextra.png,0,0\na.png,1,2\nb/c.png,3,4\n")
    assert load_features(path, NAMES).tolist() == [[1, 2], [3, 4], [5, 6]]


@pytest.mark.parametrize(
    ("suffix", "content", "message"),
    [
        (".npy", np.zeros((2, 4)), "2 rows for 3 images"),
        (".npy", np.zeros(3), "expected a 2-D numeric array"),
        (".npy", np.array([[1.0], [np.nan], [2.0]]), "image 'b/c.png' has NaN or infinite"),
        (".npy", np.array([[np.inf], [np.nan], [2.0]]), "(and 1 more rows)"),
        (".npy", b"garbage", "not a readable .npy array"),
        (".csv", "f1,f2\n", "header starting with 'name'"),
        (".csv", "name,f1\na.png,1\n", "no row for image 'b/c.png' and 1 more"),
        (".csv", "name,f1\na.png,1\nb/c.png,x\nd e.png,2\n", "a value is not a number"),
        (".csv", "name,f1\na.png,1,2\n", "line 2 has 2 values, the header 1"),
        (".txt", "", "unknown format '.txt'"),
    ],
)
def test_bad_feature_files_name_the_file_and_the_problem(tmp_path, suffix, content, message):
    path = tmp_path / f"f{suffix}"
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InputError) as exc:
        load_features(path, NAMES)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_features(tmp_path / "nope.npy", NAMES)


def _folder(tmp_path, n=16):
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    names = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
            tmp_path / "imgs" / f"{i:02d}.png"
        )
        names.append(f"{i:02d}.png")
    return names


def _generate(tmp_path, *args):
    return subprocess.run(
        [
            sys.executable,
            "generate.py",
            "--images",
            str(tmp_path / "imgs"),
            "--tsne-iter",
            "250",
            "--no-cache",
            "--out",
            str(tmp_path / "out"),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_features_decide_the_layout(tmp_path):
    names = _folder(tmp_path)
    # two tight groups in feature space, whatever the (random) pixels say
    group = np.array([i % 2 for i in range(len(names))])
    feats = group[:, None] * 100.0 + np.random.default_rng(1).normal(0, 0.1, (len(names), 5))
    np.save(tmp_path / "f.npy", feats)
    done = _generate(tmp_path, "--features", str(tmp_path / "f.npy"), "--grid", "4x4")
    assert done.returncode == 0, done.stderr
    rows = [line.split(",") for line in (tmp_path / "out" / "layout.csv").read_text().split()[1:]]
    cells = {int(r[0]): (int(r[5]), int(r[6])) for r in rows}
    # images of one group sit together: every image has a 4-neighbour of its own group
    for i, (r, c) in cells.items():
        around = [j for j, rc in cells.items() if abs(rc[0] - r) + abs(rc[1] - c) == 1]
        assert any(group[j] == group[i] for j in around)
    assert "precomputed ones read from" in (tmp_path / "out" / "data.md").read_text()


@pytest.mark.slow
def test_nan_features_are_an_input_error_on_the_command_line(tmp_path):
    names = _folder(tmp_path, n=4)
    feats = np.ones((len(names), 3))
    feats[2, 1] = np.nan
    np.save(tmp_path / "f.npy", feats)
    done = _generate(tmp_path, "--features", str(tmp_path / "f.npy"))
    assert done.returncode == 3
    assert "image '02.png' has NaN or infinite values" in done.stderr
    # one line: the error (a fresh environment's note that numba compiles may come before it)
    said = [line for line in done.stderr.splitlines() if not line.startswith("tsnegrid: note:")]
    assert len(said) == 1
    assert not (tmp_path / "out").exists()
