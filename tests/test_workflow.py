"""The GitHub Actions workflow that publishes the report: valid, and doing what the README says."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "pages.yml"


@pytest.fixture(scope="module")
def workflow():
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.mark.slow
def test_the_workflow_matches_github_s_schema(tmp_path):
    exe = shutil.which("check-jsonschema")
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install -r requirements-dev.txt)")
    done = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    done = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0


def test_it_builds_on_push_pull_request_and_demand(workflow):
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    assert "pull_request" in triggers
    assert "workflow_dispatch" in triggers


def _runs(job):
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_build_generates_builds_strictly_tests_and_summarises(workflow):
    build = workflow["jobs"]["build"]
    script = _runs(build)
    for command in (
        "python -m pytest",
        "python generate.py",
        "mkdocs build --strict",
        "GITHUB_STEP_SUMMARY",
        "SOURCE_DATE_EPOCH",
    ):
        assert command in script
    uses = [step.get("uses", "") for step in build["steps"]]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)  # the PR preview
    site_url = next(s for s in build["steps"] if "mkdocs build" in s.get("run", ""))
    assert "steps.pages.outputs.base_url" in site_url["env"]["SITE_URL"]


def test_deploy_is_from_main_only_with_the_artifact_route(workflow):
    deploy = workflow["jobs"]["deploy"]
    assert "refs/heads/main" in deploy["if"]
    assert "pull_request" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")
    assert "gh-pages" not in WORKFLOW.read_text()


def test_a_pull_request_compares_its_report_with_the_published_one(workflow):
    build = workflow["jobs"]["build"]
    find = next(s for s in build["steps"] if s.get("id") == "baseline")
    assert find["if"] == "github.event_name == 'pull_request'"
    assert "repos/$REPOSITORY/pages" in find["run"]
    assert find["env"]["GH_TOKEN"] == "${{ github.token }}"
    generate = next(s for s in build["steps"] if "python generate.py" in s.get("run", ""))
    assert generate["env"]["BASELINE"] == "${{ steps.baseline.outputs.url }}"
    assert '${BASELINE:+--baseline "$BASELINE"}' in generate["run"]  # no baseline, no flag
    assert build["permissions"] == {"contents": "read", "pages": "read"}
