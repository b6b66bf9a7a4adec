from pathlib import Path

import pytest

from tsnegrid.errors import OutputError


@pytest.mark.slow
def test_a_failed_write_leaves_the_previous_report(report, tmp_path, monkeypatch):
    _, result = report
    target = tmp_path / "docs"
    from tsnegrid.report import writer as report_mod
    from tsnegrid.report.context import report_context

    report_mod.write_docs(
        result, report_context(result, command=["tsnegrid"], where=Path.cwd()), target
    )
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def boom(staging, out):
        raise OSError("disk full")

    monkeypatch.setattr(report_mod, "_swap_in", boom)
    with pytest.raises(OSError, match="disk full"):
        report_mod.write_docs(
            result, report_context(result, command=["tsnegrid"], where=Path.cwd()), target
        )
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["docs"]  # no staging folder left


@pytest.mark.slow
def test_refuses_to_replace_a_folder_that_is_not_a_report(report, tmp_path):
    _, result = report
    from tsnegrid.report.context import report_context
    from tsnegrid.report.writer import write_docs

    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.tex").write_text("x")
    with pytest.raises(OutputError, match="not a tsnegrid report"):
        write_docs(result, report_context(result, command=["tsnegrid"], where=Path.cwd()), precious)
    assert (precious / "thesis.tex").read_text() == "x"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        write_docs(result, report_context(result, command=["tsnegrid"], where=Path.cwd()), a_file)


@pytest.mark.slow
def test_a_full_disk_is_an_output_error_that_says_how_much_space_is_needed(
    report, tmp_path, monkeypatch
):
    import errno

    from tsnegrid.report.context import report_context
    from tsnegrid.report.writer import write_docs

    _, result = report
    target = tmp_path / "docs"
    ctx = report_context(result, command=["tsnegrid"], where=tmp_path)
    write_docs(result, ctx, target)
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    real = Path.write_bytes

    def full(self, data):
        if self.name == "layout.csv":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OutputError, match=r"disk is full: the report needs [\d.]+ MiB") as err:
        write_docs(result, ctx, target)
    assert err.value.exit_code == 4
    assert "choose another --out" in str(err.value)
    monkeypatch.undo()
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]
