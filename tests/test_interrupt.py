"""A run that fails or is killed leaves the previous report exactly as it was."""

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reportkit import ROOT, build_report, small_config
from tsnegrid.report import writer as report_mod
from tsnegrid.report.context import report_context

FAST = ["--n", "120", "--tsne-iter", "250", "--pca", "20", "--no-cache"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _is_complete_report(folder: Path) -> bool:
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        path = folder / entry["path"]
        if not path.is_file():
            return False
        if entry["sha256"] and hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            return False
    return True


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    out = tmp_path_factory.mktemp("prev") / "docs"
    result = build_report(small_config(out, n_images=120))
    return out, result, _snapshot(out)


@pytest.mark.slow
def test_an_interrupt_while_writing_keeps_the_previous_report(previous, tmp_path, monkeypatch):
    _, result, _ = previous
    target = tmp_path / "docs"
    report_mod.write_docs(
        result, report_context(result, command=["tsnegrid"], where=Path.cwd()), target
    )
    snap = _snapshot(target)
    written = []
    real = Path.write_bytes

    def interrupted(self, data):
        written.append(self)
        if len(written) == 5:
            raise KeyboardInterrupt
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report_mod.write_docs(
            result, report_context(result, command=["tsnegrid"], where=Path.cwd()), target
        )
    monkeypatch.undo()
    assert _snapshot(target) == snap
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]


@pytest.mark.slow
def test_a_kill_between_the_renames_is_recovered_by_the_next_run(previous, tmp_path):
    _, result, _ = previous
    target = tmp_path / "docs"
    report_mod.write_docs(
        result, report_context(result, command=["tsnegrid"], where=Path.cwd()), target
    )
    snap = _snapshot(target)
    # what _swap_in leaves if killed after its first rename
    target.rename(tmp_path / ".docs.old-x1")
    (tmp_path / ".docs.new-x2").mkdir()
    report_mod._recover_interrupted(target)
    assert _snapshot(target) == snap
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]


def _start(out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "generate.py", *FAST, "--seed", "5", "--out", str(out), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_stage(proc: subprocess.Popen[str], stage: str) -> None:
    """Read the run's stderr until its line for ``stage`` (printed when the stage ends)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(f"tsnegrid: {stage} "):
            return
    raise AssertionError(f"the run ended before its {stage} stage: exit {proc.wait()}")


@pytest.mark.slow
@pytest.mark.parametrize("after", ["load", "neighbours", "tsne", "assignment", "figures"])
def test_killed_at_any_point_the_report_is_the_old_one_or_a_whole_new_one(
    previous, tmp_path, after
):
    src, _, before = previous
    out = tmp_path / "docs"
    subprocess.run(["cp", "-r", str(src), str(out)], check=True)
    proc = _start(out)
    _wait_for_stage(proc, after)  # killed during the next stage ("figures": while writing)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "docs"]
    if out.exists() and _snapshot(out) == before:
        pass  # killed before the swap: untouched
    else:
        report_mod._recover_interrupted(out)
        assert _snapshot(out) == before or _is_complete_report(out)
    # whatever the kill left beside the report is cleared by the next run's writer
    report_mod._recover_interrupted(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"], leftovers


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_t_sne_with_a_short_message(previous, tmp_path, sig):
    src, _, before = previous
    out = tmp_path / "docs"
    subprocess.run(["cp", "-r", str(src), str(out)], check=True)
    proc = _start(out, "--tsne-iter", "200000")  # t-SNE runs for minutes unless stopped
    _wait_for_stage(proc, "neighbours")  # t-SNE is next
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)  # a guard against a hang, not a timing
    assert proc.returncode == 130, err
    assert "interrupted; the previous report is unchanged" in err
    assert "Traceback" not in err
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]


def _frame_in(module: str, caller: object = None):
    """A frame of a function whose module is ``module``, called from ``caller``'s code."""
    namespace: dict = {"__name__": module, "sys": sys}
    exec("def here():\n    return sys._getframe()", namespace)
    if caller is None:
        return namespace["here"]()
    outer: dict = {"__name__": caller, "inner": namespace["here"]}
    exec("def there():\n    return inner()", outer)
    return outer["there"]()


def test_an_interrupt_waits_while_numba_boxes_a_result(monkeypatch):
    from tsnegrid import cli as generate

    armed: list[float] = []
    monkeypatch.setattr(signal, "setitimer", lambda which, seconds: armed.append(seconds))
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    # numba's helper called back from compiled code, itself called from ours: not now.
    generate._interrupt(signal.SIGINT, _frame_in("numba.core.serialize", "tsnegrid.embed.bhtsne"))
    assert armed == [generate.INTERRUPT_RETRY_SECONDS]
    # Anywhere else, numba compiling included: at once.
    for frame in (
        _frame_in("tsnegrid.embed.bhtsne"),
        _frame_in("numba.core.typeinfer", "numba.core"),
        None,
    ):
        with pytest.raises(KeyboardInterrupt):
            generate._interrupt(signal.SIGINT, frame)
    assert len(armed) == 1


def test_an_interrupt_reported_through_system_errors_is_still_an_interrupt(capsys, monkeypatch):
    from tsnegrid import cli as generate

    def interrupted_in_a_callback(argv):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            try:
                raise SystemError("returned a result with an exception set") from exc
            except SystemError as inner:
                raise SystemError("returned a result with an exception set") from inner

    monkeypatch.setattr(generate, "generate", interrupted_in_a_callback)
    assert generate.main([]) == 130
    assert "interrupted; the previous report is unchanged" in capsys.readouterr().err
    monkeypatch.setattr(generate, "generate", lambda argv: 1 / 0)
    assert generate.main([]) == 1
