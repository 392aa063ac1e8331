"""The callback bridge's C on its own, under AddressSanitizer+UBSan and ThreadSanitizer.

A small C driver (tests/native/bridge_driver.c) links the bridge's C files (as build_ffi.py
lists them for POSIX) against fake HCS functions (operations that carry a result, a
document and pipe handles; counters for closes and frees). Producer
threads invoke the bridge's completion and event callbacks as HCS threads would (and post
items as worker threads do; some ids are one-shot), while
native calls (create/open/close on the bridge's own threads) are submitted for ids as well;
consumer threads wait on each queue's wake socket, drain it (one queue by polling: waiting
in the bridge for items, taking a few at a time), release the items, and free queues in the
middle of the traffic (a loop shutting down). The driver then checks that
every operation was closed exactly once, every document freed once, every pipe handle
closed once (by the consumer when delivered, by the bridge when not), and that no wake-up
was lost.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import REPO

DRIVER = Path(__file__).resolve().parent / "native" / "bridge_driver.c"


def _bridge_sources() -> list[str]:
    """The bridge's C files on POSIX, as build_ffi.py compiles them into the module."""
    spec = importlib.util.spec_from_file_location("build_ffi", REPO / "build_ffi.py")
    assert spec is not None
    assert spec.loader is not None
    build_ffi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_ffi)
    names = [*build_ffi.BRIDGE_SOURCES, build_ffi.PLATFORM_SOURCES["posix"]]
    shared = [str(build_ffi.INCLUDE / name) for name in build_ffi.SHARED_SOURCES]
    return shared + [str(build_ffi.NATIVE / name) for name in names]


def _compiler() -> str:
    for cc in ("clang", "gcc", "cc"):
        path = shutil.which(cc)
        if path:
            return path
    pytest.skip("no C compiler on this machine")


@pytest.mark.parametrize(
    "sanitizer",
    [
        ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
        ["-fsanitize=thread"],
    ],
    ids=["asan-ubsan", "tsan"],
)
def test_bridge_c_under_sanitizers(tmp_path: Path, sanitizer: list[str]) -> None:
    exe = tmp_path / "driver"
    cmd = [
        _compiler(),
        "-std=c11",
        "-D_GNU_SOURCE",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Wno-unused-parameter",
        "-g",
        "-O1",
        "-pthread",
        *sanitizer,
        f"-I{REPO / 'hcsim' / 'include'}",
        f"-I{REPO / 'aiohcs' / 'include'}",
        f"-I{REPO / 'aiohcs' / '_native'}",
        *_bridge_sources(),
        str(DRIVER),
        "-o",
        str(exe),
    ]
    build = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr
    env = {
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "TSAN_OPTIONS": "halt_on_error=1",
        "PATH": "/usr/bin:/bin",
    }
    run = subprocess.run(
        [str(exe)], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ops_closed=" in run.stdout
