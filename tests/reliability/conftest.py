"""The probes' figures: each test adds lines with the ``probe_report`` fixture.

They are printed at once (visible with ``-s``), stored as the test's ``record_property``
(junit XML) and repeated in a "reliability probes" section of the terminal summary.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

_LINES: list[str] = []


@pytest.fixture
def probe_report(
    request: pytest.FixtureRequest, record_property: Callable[[str, object], None]
) -> Callable[[str], None]:
    """Report one line of figures for this probe."""
    name = request.node.name

    def report(line: str) -> None:
        text = f"{name}: {line}"
        print(text)
        _LINES.append(text)
        record_property("probe", line)

    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures of every probe that ran."""
    if _LINES:
        terminalreporter.section("reliability probes")
        for line in _LINES:
            terminalreporter.write_line(line)
