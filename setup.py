"""setuptools entry point: everything else is in pyproject.toml.

setup.py exists only for what pyproject.toml cannot say: the cffi extension
(``aiohcs._hcs``, built by build_ffi.py) and the abi3 tag of the wheel.
"""

from __future__ import annotations

import sys
import sysconfig

from setuptools import setup


def _limited_api() -> bool:
    """True where cffi builds the extension against the limited API (abi3)."""
    return (
        sys.implementation.name == "cpython"
        and not sysconfig.get_config_var("Py_GIL_DISABLED")
        and not hasattr(sys, "gettotalrefcount")  # debug builds
    )


setup(
    cffi_modules=["build_ffi.py:ffibuilder"],
    options={"bdist_wheel": {"py_limited_api": "cp310"}} if _limited_api() else {},
)
