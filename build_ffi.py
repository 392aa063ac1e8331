"""cffi builder for ``aiohcs._hcs`` (out-of-line API mode).

One set of declarations (``aiohcs/include/*.cdef``, written exactly as in the Windows
SDK headers; hcsim includes the same files) is compiled two ways:

* ``windows``: against the SDK's ``<computecore.h>`` / ``<computestorage.h>`` /
  ``<virtdisk.h>``, linked to their import libraries (delay-loaded, so the module imports
  on every Windows build and on hosts without the HCS feature; newer exports are checked
  before they are called).
  hcsim's control API is not linked: its types are declared and each function becomes a
  pointer type ``PFN_<name>``, so that ``aiohcs._native`` can call the control exports of
  hcsim's computecore.dll, looked up at run time, when that DLL is the one loaded;
* ``posix``: against hcsim, the project's C emulator of computecore, whose sources are
  compiled into the same extension together with its control API (``hcsim.cdef``).

``make_builder(target)`` returns the FFI for either target on any OS, so the Windows
module's C can be generated and cross-compiled on Linux (see tools/windows_check.sh).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parent
NATIVE = ROOT / "aiohcs" / "_native"
# What the module and hcsim share: the declarations (*.cdef) and the UTF-16 routines.
INCLUDE = ROOT / "aiohcs" / "include"
HCSIM = ROOT / "hcsim"

# Order matters: base types first, then the headers in the order the SDK includes them.
SDK_CDEFS = (
    "win32.cdef",
    "computedefs.cdef",
    "computecore.cdef",
    "computestorage.cdef",
    "virtdisk.cdef",
)
# computenetwork (HCN): compiled into the POSIX build (hcsim emulates it) after virtdisk.cdef,
# whose GUID and ULONG it uses.
POSIX_CDEFS = ("computenetwork.cdef",)
# The one macro of computenetwork.cdef cffi does not know (windows.h: #define VOID void).
_VOID = re.compile(r"\bVOID\b")
# virtdisk.cdef's ULONG is 32 bits everywhere; on Windows it is spelled as windows.h does,
# so that the C the module's functions pass it to has the SDK's pointer types.
_ULONG = "typedef uint32_t ULONG;"
_ULONG_WINDOWS = "typedef unsigned long ULONG;"
HCSIM_CDEF = "hcsim.cdef"
# computecore exports no published header declares (HcsCancelLiveMigration): functions on
# POSIX (hcsim defines them), pointer types PFN_<name> on Windows (looked up at run time).
EXTRA_CDEF = "computecore_extra.cdef"
BRIDGE_CDEF = "bridge.cdef"
MODULE_CDEF = "module.cdef"

_DECLARE_HANDLE = re.compile(r"^DECLARE_HANDLE\((\w+)\);", re.MULTILINE)
_ENUM_FLAG_OPERATORS = re.compile(r"^DEFINE_ENUM_FLAG_OPERATORS\(\w+\);\n?", re.MULTILINE)
_CALLBACK = re.compile(r"\bCALLBACK\b")
_DEFINE_VALUE = re.compile(r"^#define (\w+) .+$", re.MULTILINE)
_LINE_COMMENT = re.compile(r"//[^\n]*")
# A function declaration of hcsim.cdef: "<return type> <name> (<parameters>);".
_CONTROL_FUNCTION = re.compile(r"^(\w+) (Hcsim\w+) \(([^)]*)\);$", re.MULTILINE)
#: The prefix of the pointer types of hcsim's control functions in the Windows build.
CONTROL_POINTER_PREFIX = "PFN_"
# A function declaration of computecore_extra.cdef: "<return type> WINAPI <name> (<parameters>);".
_EXTRA_FUNCTION = re.compile(r"^(\w+) WINAPI (Hcs\w+) \(([^)]*)\);$", re.MULTILINE)
# Control functions without a Windows counterpart: on Windows hcsim hands out real pipe
# HANDLEs, so there is no descriptor behind them.
_POSIX_ONLY_CONTROL = ("HcsimHandleToFd",)

# The module's C prelude: the headers of its declarations on each target (module.h).
_PRELUDE = '#include "module.h"\n'
# The callback bridge (in aiohcs/_native), the same on both targets over its platform layer.
BRIDGE_SOURCES = ("callbacks.c", "calls.c", "pool.c", "queue.c", "registry.c")
# Shared with hcsim (in aiohcs/include).
SHARED_SOURCES = ("utf16.c",)
# Each target's platform layer and module functions (the export lookup).
PLATFORM_SOURCES = {"posix": "platform_posix.c", "windows": "platform_win32.c"}
_MODULE_SOURCES = {"posix": "module_posix.c", "windows": "module_win32.c"}


def cdef_text(name: str) -> str:
    """Return one declarations file as cffi parses it.

    The files keep the SDK's spelling; this maps the few macros cffi does not know
    onto what they expand to in the SDK.
    """
    text = (INCLUDE / name).read_text(encoding="utf-8")
    text = _LINE_COMMENT.sub("", text)
    text = _DECLARE_HANDLE.sub(r"typedef struct \1__ *\1;", text)
    text = _ENUM_FLAG_OPERATORS.sub("", text)
    text = _CALLBACK.sub("WINAPI", text)
    text = _VOID.sub("void", text)
    # In API mode cffi takes the value of a #define from the C compiler.
    return _DEFINE_VALUE.sub(r"#define \1 ...", text)


def control_pointer_types(text: str) -> str:
    """Return hcsim.cdef's text (as :func:`cdef_text` gives it) for the Windows build.

    Its types stay; each function declaration becomes a pointer type ``PFN_<name>`` (the
    functions are looked up at run time in the loaded computecore.dll, never linked), and
    the POSIX-only ones are left out.
    """

    def pointer_type(match: re.Match[str]) -> str:
        returns, name, parameters = match.groups()
        if name in _POSIX_ONLY_CONTROL:
            return ""
        return f"typedef {returns} (*{CONTROL_POINTER_PREFIX}{name})({parameters});"

    return _CONTROL_FUNCTION.sub(pointer_type, text)


def extra_pointer_types(text: str) -> str:
    """Return computecore_extra.cdef's text (as :func:`cdef_text` gives it) for Windows.

    No SDK header declares these exports, so each becomes a pointer type
    ``PFN_<name>`` for a look-up by name at run time.
    """
    return _EXTRA_FUNCTION.sub(rf"typedef \1 (WINAPI *{CONTROL_POINTER_PREFIX}\2)(\3);", text)


def _sources(target: str) -> list[str]:
    """The C sources compiled into the module for ``target`` (relative to the root)."""
    names = (*BRIDGE_SOURCES, PLATFORM_SOURCES[target], _MODULE_SOURCES[target])
    sources = [INCLUDE / name for name in SHARED_SOURCES] + [NATIVE / name for name in names]
    if target == "posix":
        sources = sorted((HCSIM / "src").glob("*.c")) + sources
    return [str(p.relative_to(ROOT)) for p in sources]


def make_builder(target: str, *, cdef_filter: Callable[[str], str] | None = None) -> cffi.FFI:
    """Return the FFI builder of ``aiohcs._hcs`` for ``target`` ("windows" or "posix")."""
    if target not in ("windows", "posix"):
        raise ValueError(f"target must be 'windows' or 'posix', not {target!r}")
    texts = [cdef_text(n) for n in SDK_CDEFS]
    if target == "posix":
        texts += [cdef_text(n) for n in POSIX_CDEFS]
    extra = cdef_text(EXTRA_CDEF)
    texts.append(extra if target == "posix" else extra_pointer_types(extra))
    control = cdef_text(HCSIM_CDEF)
    texts.append(control if target == "posix" else control_pointer_types(control))
    texts += [cdef_text(n) for n in (BRIDGE_CDEF, MODULE_CDEF)]
    text = "\n".join(texts)
    if target == "windows":
        text = text.replace(_ULONG, _ULONG_WINDOWS)
    if cdef_filter is not None:
        text = cdef_filter(text)

    ffi = cffi.FFI()
    ffi.cdef(text)
    prelude, sources = _PRELUDE, _sources(target)
    include_dirs = [str(NATIVE.relative_to(ROOT)), str(INCLUDE.relative_to(ROOT))]
    if target == "windows":
        ffi.set_source(
            "aiohcs._hcs",
            prelude,
            sources=sources,
            include_dirs=include_dirs,
            libraries=[
                "computecore",
                "computestorage",
                "virtdisk",
                "ole32",  # CoTaskMemFree (win32.cdef)
                "kernel32",
                "delayimp",
                "ws2_32",
            ],
            extra_link_args=[
                "/DELAYLOAD:computecore.dll",
                "/DELAYLOAD:computestorage.dll",
                "/DELAYLOAD:virtdisk.dll",
            ],
            py_limited_api=True,
        )
    else:
        include_dirs = [
            str((HCSIM / "include").relative_to(ROOT)),
            *include_dirs,
            str((HCSIM / "src").relative_to(ROOT)),
        ]
        ffi.set_source(
            "aiohcs._hcs",
            prelude,
            sources=sources,
            include_dirs=include_dirs,
            define_macros=[("_GNU_SOURCE", "1")],
            extra_compile_args=["-std=c11", "-pthread", "-Wall", "-Wextra"],
            extra_link_args=["-pthread"],
            libraries=["util"] if sys.platform.startswith("linux") else [],
            py_limited_api=True,
        )
    return ffi


ffibuilder = make_builder("windows" if sys.platform == "win32" else "posix")

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
