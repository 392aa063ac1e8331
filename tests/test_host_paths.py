"""check_host_path: the absolute-path rule every host-resource call shares."""

from __future__ import annotations

import pathlib

import pytest

from aiohcs._args import check_host_path
from aiohcs.errors import InvalidArgumentError, InvalidArgumentTypeError


@pytest.mark.parametrize(
    "path", ["C:\\vm\\disk.vhdx", "c:/vm/disk.vhdx", "\\\\server\\share\\d.vhdx", "\\\\?\\C:\\x"]
)
def test_windows_absolute_paths_pass(path: str) -> None:
    assert check_host_path(path, "path", windows=True) == path


@pytest.mark.parametrize("path", ["disk.vhdx", "\\vm\\disk.vhdx", "C:disk.vhdx", "..\\x"])
def test_windows_relative_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidArgumentError, match="absolute path"):
        check_host_path(path, "path", windows=True)


def test_posix_rules() -> None:
    assert check_host_path(pathlib.PurePosixPath("/tmp/x"), "path", windows=False) == "/tmp/x"
    with pytest.raises(InvalidArgumentError, match="path must be an absolute path"):
        check_host_path("tmp/x", "path", windows=False)


@pytest.mark.parametrize("value", [None, b"/tmp/x", 3])
def test_non_paths_are_type_errors(value: object) -> None:
    with pytest.raises(InvalidArgumentTypeError, match=r"str or os\.PathLike"):
        check_host_path(value, "path")


def test_nul_and_empty_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="NUL"):
        check_host_path("/tmp/a\0b", "path")
    with pytest.raises(InvalidArgumentError, match="empty"):
        check_host_path("", "path")
