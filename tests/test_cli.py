import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tsnegrid import cli as generate
from tsnegrid.flags import build_parser

ROOT = Path(__file__).resolve().parent.parent


def _run(capsys, *argv):
    code = generate.main(list(argv))
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--dataset", "cifar"], 2, "invalid choice: 'cifar'"),
        (["--grid", "3by3"], 2, "--grid '3by3': expected ROWSxCOLS"),
        (["--size", "0"], 2, "size 0: must be at least 1"),
        (["--grid", "2x2", "--n", "10"], 2, "grid 2x2 has 4 cells but 10 images"),
        (["--bogus"], 2, "unrecognized arguments: --bogus"),
    ],
)
def test_user_mistakes_get_one_clear_line_and_an_exit_code(capsys, tmp_path, argv, code, message):
    got, err = _run(capsys, *argv, "--out", str(tmp_path / "out"))
    assert got == code
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_folder_without_images_is_an_input_error(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    got, err = _run(capsys, "--images", str(tmp_path), "--out", str(tmp_path / "out"))
    assert got == 3
    assert str(tmp_path) in err
    assert "Traceback" not in err


def test_out_is_a_file_is_an_output_error(capsys, tmp_path):
    target = tmp_path / "out"
    target.write_text("x")
    got, err = _run(capsys, "--n", "20", "--tsne-iter", "250", "--no-cache", "--out", str(target))
    assert got == 4
    assert "is a file, not a folder" in err
    assert "tsnegrid: load" not in err  # refused before any work


def test_internal_errors_hide_the_traceback_unless_verbose(capsys, monkeypatch):
    def broken(argv):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(generate, "generate", broken)
    code, err = _run(capsys, "--n", "5")
    assert code == 1
    assert "internal error: RuntimeError: kaboom" in err
    assert "Traceback" not in err
    code, err = _run(capsys, "--n", "5", "--verbose")
    assert "Traceback" in err


def test_interrupt_exits_130(capsys, monkeypatch):
    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "generate", interrupted)
    code, err = _run(capsys)
    assert code == 130
    assert "interrupted" in err


@pytest.mark.slow
def test_an_image_folder_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    for cls, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(10):
            noise = rng.integers(0, 30, size=(20, 20, 3))
            img = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(img).save(tmp_path / "imgs" / cls / f"{i} <{cls}>.png")
    (tmp_path / "imgs" / "red" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable,
            "generate.py",
            "--images",
            str(tmp_path / "imgs"),
            "--grid",
            "4x6",
            "--tsne-iter",
            "250",
            "--thumb-px",
            "16",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "assignment" in done.stderr
    assert "[###" not in done.stderr  # no progress bar when stderr is not a terminal
    lines = (out / "layout.csv").read_text().splitlines()
    assert len(lines) == 21
    assert any("0 <red>.png" in line for line in lines)
    data_page = (out / "data.md").read_text()
    assert "broken.png" in data_page
    assert "<red>" not in data_page
    assert (out / "skipped.csv").read_text().splitlines()[1].startswith("red/broken.png,")
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f"tsnegrid: warning: 1 unreadable file skipped; the list is in {out}/skipped.csv (and "
        "on the Data page)"
    ]


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--dataset",
        "--images",
        "--size",
        "--grid",
        "--seed",
        "--pca",
        "--perplexity",
        "--solver",
        "--out",
        "--n",
        "--all",
        "--strict-input",
    ):
        assert flag in text


def test_the_progress_bar_draws_on_one_line(capsys):
    bar = generate._ProgressBar()
    bar.update("tsne", 0.5)
    bar.clear()
    err = capsys.readouterr().err
    assert err.startswith("\rtsnegrid: tsne")
    assert "[" + "#" * 15 + "-" * 15 + "]  50%" in err
    assert err.endswith("\r\033[K")
    assert "\n" not in err


def test_out_under_a_file_is_an_output_error(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "docs"
    got, err = _run(capsys, "--n", "20", "--tsne-iter", "250", "--no-cache", "--out", str(target))
    assert got == 4
    assert f"--out {target}: cannot create the report folder" in err
    assert "choose a writable place" in err
    assert "tsnegrid: load" not in err  # refused before any work


def test_a_mask_with_fewer_usable_cells_than_images_is_a_usage_error(capsys, tmp_path):
    from PIL import Image, ImageDraw

    mask = Image.new("L", (40, 40), 255)
    ImageDraw.Draw(mask).rectangle((0, 0, 19, 39), fill=0)  # the left half
    mask.save(tmp_path / "half.png")
    got, err = _run(
        capsys,
        "--mask",
        str(tmp_path / "half.png"),
        "--grid",
        "10x10",
        "--n",
        "80",
        "--out",
        str(tmp_path / "out"),
    )
    assert got == 2
    assert "grid 10x10 leaves 50 usable cells under the mask but 80 images" in err
    assert not (tmp_path / "out").exists()
