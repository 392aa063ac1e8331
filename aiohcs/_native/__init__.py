"""The native glue: the compiled binding ``aiohcs._hcs`` and the helpers every caller needs.

* ``ffi`` / ``lib``: the cffi objects of ``aiohcs._hcs`` (computecore + computestorage on
  Windows; the same declarations compiled against hcsim, plus its control API, elsewhere).
* ``hcsim``: hcsim's control functions (``Hcsim*``), or None when HCS is not the emulator:
  compiled in (POSIX), or the control exports of hcsim's computecore.dll (Windows).
* Strings in: :func:`to_wide` makes a NUL-terminated UTF-16 ``PCWSTR`` from a ``str``.
* Strings out: :func:`take_document` decodes a returned ``PWSTR`` and always frees it
  with ``LocalFree`` (computecore, computestorage); :func:`take_network_document` does
  the same with ``CoTaskMemFree`` for the strings computenetwork hands out.
* Optional exports: :func:`export_available` / :func:`require_export` for the functions
  newer than Windows 10 1809.

``ffi`` and ``lib`` are untyped (``Any``); the helpers here are the typed boundary. This
module is synchronous and knows nothing about event loops.
"""

from __future__ import annotations

import codecs
import sys
import types
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from aiohcs._args import check_text
from aiohcs._native._releases import OPTIONAL_EXPORTS, WIN10_1809
from aiohcs.errors import HcsNotAvailableError, UnsupportedOnThisHost

__all__ = [
    "IS_EMULATOR",
    "NULL",
    "OPTIONAL_EXPORTS",
    "CData",
    "export_available",
    "ffi",
    "hcsim",
    "lib",
    "new_document_ptr",
    "require_export",
    "required_release",
    "take_document",
    "take_network_document",
    "to_wide",
    "unpublished_export",
]

#: A cffi ``CData`` value (pointer, array, struct). cffi objects are untyped.
CData: TypeAlias = Any

_utf16_decode: Final = codecs.utf_16_le_decode

_NO_HCS_MESSAGE: Final = (
    "the Host Compute Service is not available on this host (computecore.dll could not be "
    "loaded): aiohcs needs Windows 10 1809 / Windows Server 2019 or later with the "
    "'Containers' or 'Hyper-V' feature enabled"
)


def hcs_not_available(exc: ImportError, platform: str = sys.platform) -> ImportError:
    """Return the error to raise for a failed import of the extension.

    On Windows a loader failure ("DLL load failed ...") means computecore.dll is missing:
    that becomes :class:`HcsNotAvailableError`. Anything else is returned unchanged.
    """
    text = str(exc)
    if platform == "win32" and ("DLL load failed" in text or "computecore" in text.lower()):
        return HcsNotAvailableError(f"{_NO_HCS_MESSAGE} ({text})", name="aiohcs._hcs")
    return exc


def _load() -> tuple[Any, Any]:
    try:
        from aiohcs import _hcs
    except ImportError as exc:
        error = hcs_not_available(exc)
        if error is exc:
            raise
        raise error from exc
    return _hcs.ffi, _hcs.lib


_ffi, _lib = _load()
#: The cffi FFI object of ``aiohcs._hcs`` (types, ``new``, ``cast``, ``buffer``, ...).
ffi: Final[Any] = _ffi
#: The compiled functions: computecore + computestorage (+ hcsim's control API).
lib: Final[Any] = _lib
del _ffi, _lib

# The prefix of the pointer types of hcsim's control functions (build_ffi.py, Windows).
_CONTROL_POINTER_PREFIX: Final = "PFN_"


def _control_functions() -> Any:
    """hcsim's control functions, or None when the loaded HCS is not hcsim.

    POSIX: compiled into ``lib``. Windows: looked up in the loaded computecore.dll (hcsim's
    exports them, Windows' does not) and cast to their declared types.
    """
    if sys.platform == "win32":
        names = [
            t.removeprefix(_CONTROL_POINTER_PREFIX)
            for t in ffi.list_types()[0]
            if t.startswith(_CONTROL_POINTER_PREFIX + "Hcsim")
        ]
        addresses = {name: lib.aiohcs_export_address(name.encode("ascii")) for name in names}
        if addresses.get("HcsimReset", ffi.NULL) == ffi.NULL:
            return None
        missing = sorted(name for name, address in addresses.items() if address == ffi.NULL)
        if missing:
            raise ImportError(
                f"the loaded computecore.dll is hcsim's but lacks its control exports "
                f"{missing}: it does not match this aiohcs"
            )
        functions = {
            name: ffi.cast(_CONTROL_POINTER_PREFIX + name, address)
            for name, address in addresses.items()
        }
        return types.SimpleNamespace(**functions)
    else:
        return lib if hasattr(lib, "HcsimReset") else None


NULL: Final[CData] = ffi.NULL

#: hcsim's control functions (``Hcsim*``, as declared in hcsim.cdef), None on real HCS.
hcsim: Final[Any] = _control_functions()
#: True when HCS is hcsim: compiled into the extension (POSIX), or hcsim's DLLs (Windows).
IS_EMULATOR: Final[bool] = hcsim is not None

# Looked up once; module attributes so that tests can watch what is freed. CoTaskMemFree
# is declared with computenetwork (win32.cdef): None in a build without it.
_local_free: Any = lib.LocalFree
_co_task_mem_free: Any = getattr(lib, "CoTaskMemFree", None)

if not IS_EMULATOR and not lib.aiohcs_export_available(b"HcsCreateOperation"):
    # computecore.dll is delay-loaded, so a host without HCS imports the extension fine
    # and would only fault at the first call: refuse here, with a clear message.
    raise HcsNotAvailableError(_NO_HCS_MESSAGE, name="aiohcs._native")

# On Windows the answer cannot change while the process runs; hcsim can hide exports
# at run time (HcsimSetExportHidden), so the emulator build asks every time.
_export_cache: dict[str, bool] = {}


def required_release(name: str) -> str:
    """Return the Windows release that introduced the HCS export ``name``."""
    return OPTIONAL_EXPORTS.get(name, WIN10_1809)


def export_available(name: str) -> bool:
    """Return True if this host's computecore/computestorage/computenetwork exports ``name``."""
    cached = _export_cache.get(name)
    if cached is not None:
        return cached
    available = bool(lib.aiohcs_export_available(name.encode("ascii")))
    if not IS_EMULATOR:
        _export_cache[name] = available
    return available


def require_export(name: str) -> None:
    """Raise :class:`UnsupportedOnThisHost` (naming the needed release) if ``name`` is missing."""
    if not export_available(name):
        raise UnsupportedOnThisHost(export=name, release=required_release(name))


def unpublished_export(name: str) -> Any:
    """The function of an export no SDK header declares (``computecore_extra.cdef``).

    Call :func:`require_export` first. POSIX: hcsim's function in ``lib``. Windows: looked
    up by name in the loaded computecore.dll (the module never links it) and cast to its
    declared pointer type ``PFN_<name>``.
    """
    if sys.platform == "win32":
        address = lib.aiohcs_export_address(name.encode("ascii"))
        if address == ffi.NULL:
            raise UnsupportedOnThisHost(export=name, release=required_release(name))
        return ffi.cast(_CONTROL_POINTER_PREFIX + name, address)
    else:
        return getattr(lib, name)


# ---------------------------------------------------------------- strings in


def to_wide(text: str | None) -> CData:
    """Return ``text`` as a NUL-terminated UTF-16LE ``WCHAR[]`` (``ffi.NULL`` for None).

    The result owns its memory: keep it referenced for as long as HCS may read it.
    Raises :class:`~aiohcs.errors.InvalidArgumentError` for a NUL inside the string (C would cut it
    there) and for lone surrogates (HCS strings, JSON documents included, are UTF-16
    and cannot carry an unpaired surrogate).
    """
    if text is None:
        return ffi.NULL
    check_text(text, expected="a str or None")  # (no NUL, no lone surrogate)
    return ffi.from_buffer("WCHAR[]", text.encode("utf-16-le") + b"\0\0")


# ---------------------------------------------------------------- strings out


def new_document_ptr() -> CData:
    """Return a fresh ``PWSTR *`` (initialised to NULL) for an out-document parameter."""
    return ffi.new("PWSTR *")


def take_document(pp: CData) -> str | None:
    """Decode and free the document HCS stored in ``*pp``; None if it is NULL.

    The string is always released with ``LocalFree`` (also if decoding fails) and
    ``*pp`` is reset to NULL, so calling this twice is harmless. Invalid UTF-16 (a lone
    surrogate) is kept as a surrogate code point rather than raising.
    """
    return _take(pp, _local_free)


def take_network_document(pp: CData) -> str | None:
    """Decode and free the string an Hcn function stored in ``*pp``; None if it is NULL.

    As :func:`take_document`, but the string is released with ``CoTaskMemFree``, as
    computenetwork.h says of every string it hands out (result documents and
    ErrorRecord): ``LocalFree`` on one is heap corruption on Windows, and an abort on
    hcsim.
    """
    return _take(pp, _co_task_mem_free)


def _take(pp: CData, free: Callable[[CData], object]) -> str | None:
    """Decode the string in ``*pp`` (None if NULL), reset ``*pp`` and always ``free`` it."""
    p = pp[0]
    if p == ffi.NULL:
        return None
    pp[0] = ffi.NULL
    try:
        return _decode(p)
    finally:
        free(p)


def _decode(p: CData) -> str:
    # The length is found in C (aiohcs_utf16_len) and the codec decodes straight from the C
    # buffer: about 3x faster than ffi.string() on large documents, and as fast on small ones.
    # "surrogatepass" keeps a lone surrogate as a code point instead of raising.
    size = 2 * lib.aiohcs_utf16_len(p)
    text, _ = _utf16_decode(ffi.buffer(p, size), "surrogatepass", True)
    return text


def _connect_from_environment() -> None:
    # AIOHCS_HCSIM=PATH: this process is a client of the hcsim service there, from before
    # its first call (a failure is an HcsimServiceUnavailable, an ImportError).
    from aiohcs import _hcsim_client

    _hcsim_client.connect_from_environment(hcsim)


_connect_from_environment()
