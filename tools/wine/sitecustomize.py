"""Start-up of the Windows CPython that runs the suite under Wine (tools/wine/run_suite.sh).

Installed into that interpreter's site-packages, so every process of the run (pytest and
the interpreters the tests start) gets it:

* ``AIOHCS_WINE_DLL_DIRS`` (Windows paths joined by ``;``) are added to the DLL search
  path: the hcsim builds of computecore.dll / computestorage.dll that ``aiohcs._hcs``
  imports, as a Windows user would add the directory of their DLLs;
* trio's Windows I/O manager gets the SIO_BSP_HANDLE_* fallback of ``ws2_bsp_shim.dll``
  (next to python.exe) installed into ``_cffi_backend``, through which trio calls
  WSAIoctl. The other shim, ``bcryptprimitives.dll``, needs no set-up: Windows finds it
  next to python.exe.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType


class _ShimLoader:
    """Loads ``_cffi_backend`` as its own loader would, then installs the WSAIoctl shim."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        import ctypes

        dll = os.path.join(os.path.dirname(sys.executable), "ws2_bsp_shim.dll")
        patched = ctypes.CDLL(dll).ws2_bsp_shim_install(ctypes.c_wchar_p(spec.origin))
        if patched <= 0:
            print(f"sitecustomize: ws2_bsp_shim not installed ({patched})", file=sys.stderr)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)


class _ShimFinder:
    """Meta path finder that wraps the loader of ``_cffi_backend`` once, when first imported.

    (The shim waits for that import: importing the module here would change what a
    fresh interpreter has loaded, which tests look at.)
    """

    @classmethod
    def find_spec(
        cls, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "_cffi_backend":
            return None
        sys.meta_path.remove(cls)
        for finder in sys.meta_path:
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                spec.loader = _ShimLoader(spec.loader)  # type: ignore[assignment]
                return spec
        return None


if sys.platform == "win32":
    for _directory in filter(None, os.environ.get("AIOHCS_WINE_DLL_DIRS", "").split(";")):
        os.add_dll_directory(_directory)
    sys.meta_path.insert(0, _ShimFinder)
