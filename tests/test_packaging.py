"""tsnegrid as people install it: the wheel, the console command, ``tsnegrid new``."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_list_names_every_package_and_the_templates_folder():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "tsnegrid").rglob("__init__.py")
    }
    assert set(setup["packages"]) == on_disk | {"tsnegrid.report.templates"}
    assert setup["package-dir"] == {"tsnegrid.report.templates": "templates"}


def test_new_projects_get_the_same_mkdocs_yml_as_this_report():
    shipped = ROOT / "tsnegrid" / "scaffold" / "mkdocs.yml"
    assert shipped.read_text() == (ROOT / "mkdocs.yml").read_text()


def test_tsnegrid_new_writes_a_project_and_refuses_to_overwrite(tmp_path, capsys):
    from tsnegrid.cli import main

    assert main(["new", str(tmp_path / "proj"), "--images", "art"]) == 0
    made = sorted(
        p.relative_to(tmp_path / "proj").as_posix() for p in tmp_path.rglob("*") if p.is_file()
    )
    assert made == [".github/workflows/report.yml", ".gitignore", "data/README.md", "mkdocs.yml"]
    workflow = (tmp_path / "proj/.github/workflows/report.yml").read_text()
    assert "tsnegrid --images art" in workflow
    assert re.search(r'pip install "tsnegrid(==| @ git\+)', workflow)
    assert "{{ install_spec }}" not in workflow
    assert "/docs/" in (tmp_path / "proj/.gitignore").read_text()
    (tmp_path / "proj/mkdocs.yml").write_text("mine")
    assert main(["new", str(tmp_path / "proj")]) == 4
    assert "overwrites nothing" in capsys.readouterr().err
    assert (tmp_path / "proj/mkdocs.yml").read_text() == "mine"
    assert main(["new", str(tmp_path / "other"), "--images", "../outside"]) == 2


def _images(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for k, name in enumerate(("red", "blue")):
        (folder / name).mkdir(parents=True)
        for i in range(20):
            pixels = rng.integers(0, 60, (12, 12, 3), dtype=np.uint8)
            pixels[..., 0 if k == 0 else 2] += 190
            Image.fromarray(pixels).save(folder / name / f"{i:02d}.png")


@pytest.mark.slow
def test_the_built_wheel_makes_a_report_outside_the_checkout(tmp_path):
    """Build the wheel, install it alone into a fresh venv (its dependencies are this venv's),
    then ``tsnegrid new`` + ``tsnegrid`` + ``mkdocs build --strict`` in a folder far from here."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("tsnegrid-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tsnegrid/report/templates/index.md.j2" in names
    assert "tsnegrid/report/static/map-viewer.js" in names
    assert "tsnegrid/report/static/glightbox/glightbox.min.js" in names
    assert "tsnegrid/scaffold/workflow.yml" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # This venv's packages (numpy, numba, mkdocs ...) but not its editable tsnegrid.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    project = tmp_path / "far" / "proj"
    tsnegrid = str(venv / "bin" / "tsnegrid")
    subprocess.run([tsnegrid, "new", str(project), "--images", "art"], check=True)
    _images(project / "art")
    done = subprocess.run(
        [tsnegrid, "--images", "art", "--pca", "10", "--tsne-iter", "250"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    run_page = (project / "docs" / "run.md").read_text()
    assert "tsnegrid --images art --pca 10 --tsne-iter 250" in run_page
    assert str(ROOT) not in (project / "docs" / "index.md").read_text()
    built = subprocess.run(
        [python, "-m", "mkdocs", "build", "--strict"], cwd=project, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    assert (project / "site" / "map" / "index.html").is_file()
    module = subprocess.run(
        [python, "-m", "tsnegrid", "--help"], cwd=project, capture_output=True, text=True
    )
    assert module.returncode == 0 and "usage: python -m tsnegrid" in module.stdout
