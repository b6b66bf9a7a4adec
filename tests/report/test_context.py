"""The report context: provenance from the user's folder and command, the manifest."""

import subprocess

import pytest

from tests.reportkit import small_config
from tsnegrid.pipeline import run
from tsnegrid.report.context import report_context


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run(small_config(tmp_path_factory.mktemp("ctx") / "docs", n_images=40))


@pytest.mark.slow
def test_provenance_comes_from_the_folder_the_user_runs_in(result, tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "x").write_text("x")
    subprocess.run(["git", "add", "x"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
        cwd=tmp_path,
        check=True,
    )
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    ctx = report_context(result, command=["tsnegrid", "--n", "40"], where=tmp_path)
    assert ctx["provenance"]["git_commit"] == head
    assert ctx["provenance"]["git_dirty"] is False
    outside = report_context(result, command=["tsnegrid"], where=tmp_path / "x")["provenance"]
    assert outside["git_commit"] is None  # not a folder, so no repository


@pytest.mark.slow
def test_the_reproduce_command_is_the_one_the_user_ran_quoted_for_a_shell(result, tmp_path):
    ctx = report_context(
        result, command=["python", "-m", "tsnegrid", "--images", "my pics"], where=tmp_path
    )
    assert ctx["provenance"]["command"] == "python -m tsnegrid --images 'my pics'"


@pytest.mark.slow
def test_the_manifest_records_config_seed_run_and_versions(result, tmp_path):
    manifest = report_context(result, command=["tsnegrid"], where=tmp_path)["manifest"]
    assert manifest["schema"] == "tsnegrid.manifest"
    assert manifest["seed"] == result.config.seed
    assert manifest["config"] == result.config.to_json()
    assert manifest["run"]["n_images"] == 40
    assert manifest["packages"]["numpy"]
