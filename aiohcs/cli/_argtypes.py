"""Value types of the tool's options (argparse ``type=``): seconds and counts in range."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Final

__all__ = ["positive_int", "positive_seconds", "seconds", "seconds_type"]


def seconds_type(*, positive: bool) -> Callable[[str], float]:
    """An argparse type: a number of seconds, 0 or more (more than 0 if ``positive``)."""
    bound = "more than 0" if positive else "0 or more"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number of seconds, not {text!r}"
            ) from None
        if not (value > 0 if positive else value >= 0):  # (also rejects nan)
            raise argparse.ArgumentTypeError(f"must be {bound} seconds, not {text!r}")
        return value

    return parse


seconds: Final = seconds_type(positive=False)
positive_seconds: Final = seconds_type(positive=True)


def positive_int(text: str) -> int:
    """An argparse type: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text!r}")
    return value
