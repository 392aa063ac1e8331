"""The suite's warning filters: warnings are errors, yet a failing hypothesis test is reported."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_a_failing_hypothesis_test_is_a_failure_not_an_internal_error(
    pytester: pytest.Pytester, pytestconfig: pytest.Config
) -> None:
    filters = pytestconfig.getini("filterwarnings")
    assert filters[0] == "error"
    lines = "\n".join(f"    {line}" for line in filters)
    pytester.makeini(
        f"[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings =\n{lines}\n"
    )
    pytester.makepyfile(
        test_inner="""
from hypothesis import given, strategies as st

@given(st.integers())
def test_fails(x):
    assert x < 10
"""
    )
    # A fresh interpreter: hypothesis imports libcst (whose import warns) only to explain
    # the first failure of a process.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    # The minimal failing example is reported (hypothesis words the heading differently
    # across releases: "Falsifying example" / "Failing test case").
    result.stdout.fnmatch_lines(["*x=10*", "*1 failed*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
