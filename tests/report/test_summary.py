import pytest


@pytest.mark.slow
def test_ci_summary_reads_the_report(report, capsys, tmp_path):
    from tsnegrid.report.summary import main

    out, _ = report
    assert main([str(out)]) == 0
    text = capsys.readouterr().out
    assert "| Images | 150 of 1,797 |" in text
    assert "(proven optimal)" in text
    assert "| **total** |" in text
    assert main([str(tmp_path)]) == 3
    assert "is not a readable report" in capsys.readouterr().err
