"""The CI guard of tests/conftest.py: outside references must not be skipped silently."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SKIPPED_REFERENCE = """
import pytest

@pytest.mark.pennylane
def test_reference():
    pytest.skip("no reference here")

@pytest.mark.skipif(True, reason="not on this platform")
@pytest.mark.pennylane
def test_reference_skipif():
    pass

def test_other():
    pytest.skip("unrelated")
"""


@pytest.fixture
def guarded(pytester):
    """A pytester project with this suite's conftest hook and a skipped ``pennylane`` test."""
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport  # noqa: F401")
    pytester.makeini("[pytest]\nmarkers =\n    pennylane: compares against PennyLane\n")
    pytester.makepyfile(SKIPPED_REFERENCE)
    return pytester


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_skipped_reference_fails_in_ci(guarded, monkeypatch, value):
    """Test that under CI a skipped pennylane-marked test fails, naming itself and the reason.

    A skip inside the test is a failure; a skip at setup (``skipif``) is an error. Either makes
    the run fail; the unmarked test stays skipped.
    """
    monkeypatch.setenv("CI", value)
    result = guarded.runpytest()
    result.assert_outcomes(failed=1, errors=1, skipped=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*test_reference*must run in CI*no reference here*"])
    result.stdout.fnmatch_lines(["*test_reference_skipif*must run in CI*not on this platform*"])


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_skipped_reference_is_a_skip_outside_ci(guarded, monkeypatch, value):
    """Test that outside CI a skipped pennylane-marked test stays a skip."""
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    guarded.runpytest().assert_outcomes(skipped=3)
