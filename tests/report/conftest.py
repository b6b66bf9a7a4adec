"""The report of one small run, built once per test session for the report tests."""

import pytest

from tests.reportkit import build_report, small_config


@pytest.fixture(scope="session")
def report(tmp_path_factory):
    """(the report folder, the RunResult) of 150 digits; tests only read it."""
    out = tmp_path_factory.mktemp("report") / "docs"
    result = build_report(small_config(out), argv=["--n", "150"])
    return out, result
