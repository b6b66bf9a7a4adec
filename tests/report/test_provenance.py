import subprocess

import pytest

from tsnegrid.report.provenance import build_date, git_state, package_versions


def _git(where, *args):
    subprocess.run(["git", *args], cwd=where, check=True, capture_output=True)


def test_git_state_is_the_commit_of_the_folder_and_sees_a_dirty_tree(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_state(tmp_path).commit == head
    assert git_state(tmp_path).dirty is False
    (tmp_path / "a.txt").write_text("2")
    assert git_state(tmp_path).dirty is True


def test_outside_a_repository_there_is_no_commit(tmp_path):
    state = git_state(tmp_path)
    assert (state.commit, state.dirty) == (None, False)


def test_build_date_honours_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert build_date() == "2023-11-14T22:13:20Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "not a number")
    assert build_date().endswith("Z") and build_date() != "2023-11-14T22:13:20Z"


@pytest.mark.parametrize("name", ["tsnegrid", "numpy", "jinja2"])
def test_package_versions_name_the_installed_versions(name):
    from importlib import metadata

    assert package_versions()[name] == metadata.version(name)
