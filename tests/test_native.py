"""aiohcs._native: the binding's surface, strings in and out, HRESULTs, optional exports.

The tests that call HCS functions run against hcsim (the emulator build) and check the
behaviour the HCS contract gives for those calls.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest
from helpers import run_python
from hypothesis import given
from hypothesis import strategies as st

import aiohcs
from aiohcs import _native, testing
from aiohcs._native import _releases, ffi, lib
from aiohcs.errors import (
    HcsError,
    HcsNotAvailableError,
    HResult,
    InvalidArgumentError,
    SystemNotFound,
    UnsupportedOnThisHost,
    error_from_hresult,
    hresult_u32,
)

# The declarations (aiohcs/include, shipped in the wheel).
DECLARATIONS_DIR = Path(aiohcs.__file__).resolve().parent / "include"
_FUNCTION = re.compile(r"\bWINAPI\s+(\w+)\s*\(")
_HCSIM_FUNCTION = re.compile(r"\b(Hcsim\w+)\s*\(")


def check(hr: int, **context: Any) -> None:
    """Raise the mapped :mod:`aiohcs.errors` exception for a failure HRESULT."""
    if hresult_u32(hr) & 0x80000000:
        raise error_from_hresult(hr, **context)


emulator_only = pytest.mark.skipif(not _native.IS_EMULATOR, reason="needs the hcsim build")


def declared_functions(cdef: str, pattern: re.Pattern[str] = _FUNCTION) -> list[str]:
    """Function names declared in a .cdef file (parsed here, not taken from build_ffi)."""
    text = re.sub(r"//[^\n]*", "", (DECLARATIONS_DIR / cdef).read_text(encoding="utf-8"))
    return pattern.findall(text)


def units(wide: Any) -> list[int]:
    """The UTF-16 code units of a WCHAR[] (including its terminator)."""
    return list(memoryview(bytes(ffi.buffer(wide))).cast("H"))


# ---------------------------------------------------------------- the binding's surface

COMPUTECORE = declared_functions("computecore.cdef")
COMPUTESTORAGE = declared_functions("computestorage.cdef")
COMPUTENETWORK = declared_functions("computenetwork.cdef")
#: computenetwork's exports that Debian's older computenetwork.h lacks (no Microsoft page).
NEWER_COMPUTENETWORK: Final = frozenset({"HcnQueryEndpointStats", "HcnQueryEndpointAddresses"})


def test_cdef_parse_finds_the_declared_functions() -> None:
    # The newest computecore.h declares 59 functions (52 before the live-migration release),
    # computestorage.h 14 (12 before the overlay filters); the cdef copies them.
    assert len(COMPUTECORE) == len(set(COMPUTECORE)) == 59
    assert len(COMPUTESTORAGE) == len(set(COMPUTESTORAGE)) == 14
    assert "HcsCreateComputeSystem" in COMPUTECORE
    assert "HcsGetLayerVhdMountPath" in COMPUTESTORAGE
    control = declared_functions("hcsim.cdef", _HCSIM_FUNCTION)
    assert {"HcsimReset", "HcsimGetCounts", "HcsimSetExportHidden"} <= set(control)


@pytest.mark.parametrize("name", [*COMPUTECORE, *COMPUTESTORAGE, "LocalFree", "CloseHandle"])
def test_every_declared_function_is_in_lib(name: str) -> None:
    assert callable(getattr(lib, name))


MINGW_CC = "x86_64-w64-mingw32-gcc"


def sdk_header(name: str) -> Path:
    """Find mingw-w64's copy of an SDK header through the cross compiler's include path."""
    cc = shutil.which(MINGW_CC)
    if cc is None:
        pytest.skip(f"{MINGW_CC} (Debian: gcc-mingw-w64-x86-64-win32) is not installed")
    deps = subprocess.run(
        [cc, "-M", "-x", "c", "-"],
        input=f"#include <windows.h>\n#include <{name}>\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    paths = [Path(w) for w in deps.replace("\\\n", " ").split() if w.endswith("/" + name)]
    assert paths, f"{name} not found by {MINGW_CC}"
    return paths[0]


#: What the newest computecore.h/computestorage.h declare that older copies (Debian 12's
#: mingw-w64) lack.
NEWER_COMPUTECORE: Final = frozenset(
    {
        "HcsAttachOverlayFilter",
        "HcsDetachOverlayFilter",
        "HcsCreateOperationWithNotifications",
        "HcsAddResourceToOperation",
        "HcsGetOperationProperties",
        "HcsInitializeLiveMigrationOnSource",
        "HcsStartLiveMigrationOnSource",
        "HcsStartLiveMigrationTransfer",
        "HcsFinalizeLiveMigration",
    }
)


@pytest.mark.parametrize(
    ("header", "cdef"),
    [("computecore.h", "computecore.cdef"), ("computestorage.h", "computestorage.cdef")],
)
def test_every_function_of_the_sdk_header_is_declared_and_in_lib(header: str, cdef: str) -> None:
    text = re.sub(r"//[^\n]*", "", sdk_header(header).read_text(encoding="utf-8"))
    in_header = _FUNCTION.findall(text)
    assert in_header
    declared = set(declared_functions(cdef))
    assert set(in_header) <= declared
    # The cross compiler's header may predate the newest one the cdef copies.
    assert declared - set(in_header) <= NEWER_COMPUTECORE
    missing = [name for name in in_header if not callable(getattr(lib, name, None))]
    assert missing == []


#: Control functions without a Windows counterpart (hcsim's DLLs hand out real HANDLEs).
POSIX_ONLY_CONTROL: Final = ("HcsimHandleToFd",)


@emulator_only
@pytest.mark.parametrize("name", declared_functions("hcsim.cdef", _HCSIM_FUNCTION))
def test_emulator_control_api_is_there(name: str) -> None:
    if sys.platform == "win32" and name in POSIX_ONLY_CONTROL:
        assert not hasattr(_native.hcsim, name)
    else:
        assert callable(getattr(_native.hcsim, name))


def test_is_emulator_when_hcsim_is_loaded() -> None:
    # POSIX: hcsim is compiled in; Windows: hcsim's DLLs under test, Windows' own otherwise.
    assert _native.IS_EMULATOR is (_native.hcsim is not None)
    if sys.platform == "win32":
        assert _native.IS_EMULATOR is (lib.aiohcs_export_address(b"HcsimReset") != ffi.NULL)
        assert not hasattr(lib, "HcsimReset")  # never linked: looked up at run time
    else:
        assert _native.IS_EMULATOR
        assert _native.hcsim is lib


def test_types_have_windows_widths() -> None:
    assert ffi.sizeof("WCHAR") == 2
    assert ffi.sizeof("HRESULT") == 4
    assert ffi.sizeof("DWORD") == 4
    assert ffi.sizeof("UINT64") == 8
    if ffi.sizeof("void *") == 8:
        assert ffi.sizeof("HCS_EVENT") == 24
        assert ffi.sizeof("HCS_PROCESS_INFORMATION") == 32
        assert ffi.sizeof("HCS_CREATE_OPTIONS_1") == 48


def test_native_module_does_not_import_an_event_loop() -> None:
    code = (
        "import sys, aiohcs._native; "
        "print([m for m in ('asyncio', 'anyio', 'trio', 'pydantic') if m in sys.modules])"
    )
    assert run_python("-c", code).stdout.strip() == "[]"


# ---------------------------------------------------------------- strings in


def test_to_wide_none_is_null() -> None:
    assert _native.to_wide(None) == ffi.NULL


def test_to_wide_empty() -> None:
    wide = _native.to_wide("")
    assert units(wide) == [0]
    assert ffi.typeof(wide) is ffi.typeof("WCHAR[]")


def test_to_wide_ascii_and_bmp() -> None:
    assert units(_native.to_wide("Az")) == [0x41, 0x7A, 0]
    assert units(_native.to_wide("é€")) == [0xE9, 0x20AC, 0]


def test_to_wide_non_bmp_becomes_a_surrogate_pair() -> None:
    assert units(_native.to_wide("a\U0001f600b")) == [0x61, 0xD83D, 0xDE00, 0x62, 0]
    assert units(_native.to_wide("\U0010ffff")) == [0xDBFF, 0xDFFF, 0]


@pytest.mark.parametrize("text", ["\ud800", "a\udc00", "x\ud83dy", "\udfff\ud800", "ok\ud800"])
def test_to_wide_lone_surrogate_is_a_clear_error(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"lone surrogate .*UTF-16") as info:
        _native.to_wide(text)
    assert isinstance(info.value, ValueError)
    assert f"index {next(i for i, c in enumerate(text) if 0xD800 <= ord(c) < 0xE000)}" in str(
        info.value
    )


@pytest.mark.parametrize("text", ["\0", "a\0b", "abc\0", '{"Id": "x\0"}'])
def test_to_wide_nul_inside_is_a_clear_error(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="NUL") as info:
        _native.to_wide(text)
    assert f"index {text.index(chr(0))}" in str(info.value)


@given(
    st.text(alphabet=st.characters(exclude_characters="\0")),
    st.characters(categories=["Cs"]),
    st.text(alphabet=st.characters(exclude_characters="\0")),
)
def test_to_wide_rejects_any_lone_surrogate(before: str, surrogate: str, after: str) -> None:
    # Python strings hold code points, so a surrogate in one is never half of a pair.
    with pytest.raises(InvalidArgumentError, match="lone surrogate"):
        _native.to_wide(before + surrogate + after)


def test_to_wide_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        _native.to_wide(b"bytes")  # type: ignore[arg-type]


def test_to_wide_long_string() -> None:
    text = "{" + "\U0001f600é" * 1_000_000 + "}"
    wide = _native.to_wide(text)
    assert len(wide) == 3_000_003
    assert wide[len(wide) - 1] == "\0"
    assert _native._decode(ffi.cast("WCHAR *", wide)) == text


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\0")))
def test_to_wide_round_trips(text: str) -> None:
    wide = _native.to_wide(text)
    assert len(wide) == len(text.encode("utf-16-le")) // 2 + 1
    assert _native._decode(ffi.cast("WCHAR *", wide)) == text


# ---------------------------------------------------------------- strings out


class FreeSpy:
    """Stands in for LocalFree on memory Python owns: records what would be freed."""

    def __init__(self) -> None:
        self.freed: list[int] = []
        self.keep: list[Any] = []

    def __call__(self, p: Any) -> Any:
        self.freed.append(int(ffi.cast("uintptr_t", p)))
        return ffi.NULL

    def document(self, units_: bytes) -> tuple[Any, int]:
        """A ``PWSTR *`` pointing at a Python-owned copy of ``units_`` (UTF-16LE + NUL)."""
        buf = ffi.new("char[]", units_ + b"\0\0")
        self.keep.append(buf)
        pp = ffi.new("PWSTR *", ffi.cast("PWSTR", buf))
        return pp, int(ffi.cast("uintptr_t", buf))


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> FreeSpy:
    spy = FreeSpy()
    monkeypatch.setattr(_native, "_local_free", spy)
    return spy


def test_take_document_null_frees_nothing(spy: FreeSpy) -> None:
    pp = _native.new_document_ptr()
    assert pp[0] == ffi.NULL
    assert _native.take_document(pp) is None
    assert spy.freed == []


def test_take_document_decodes_and_frees_once(spy: FreeSpy) -> None:
    text = '{"Id":"vm\U0001f600é","State":"Running"}'
    pp, address = spy.document(text.encode("utf-16-le"))
    assert _native.take_document(pp) == text
    assert spy.freed == [address]
    assert pp[0] == ffi.NULL
    assert _native.take_document(pp) is None  # a second call is harmless
    assert spy.freed == [address]


def test_take_document_empty_string(spy: FreeSpy) -> None:
    pp, address = spy.document(b"")
    assert _native.take_document(pp) == ""
    assert spy.freed == [address]


def test_take_document_keeps_malformed_utf16(spy: FreeSpy) -> None:
    # A lone high surrogate, a reversed pair and a lone low one: never a crash.
    raw = b"a\x00" + b"\x00\xd8" + b"b\x00" + b"\x00\xdc\x3d\xd8" + b"\x00\xdc"
    pp, address = spy.document(raw)
    assert _native.take_document(pp) == "a\ud800b\udc00\U0001f400"  # the pair still pairs
    assert spy.freed == [address]


def test_take_document_frees_when_decoding_fails(
    spy: FreeSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(p: Any) -> str:
        raise MemoryError

    monkeypatch.setattr(_native, "_decode", broken)
    pp, address = spy.document("x".encode("utf-16-le"))
    with pytest.raises(MemoryError):
        _native.take_document(pp)
    assert spy.freed == [address]
    assert pp[0] == ffi.NULL


def test_take_document_large(spy: FreeSpy) -> None:
    text = json.dumps({"Data": "\U0001f600" * 500_000 + "é" * 500_000})
    pp, _ = spy.document(text.encode("utf-16-le"))
    assert _native.take_document(pp) == text


# ---------------------------------------------------------------- loading


def test_missing_computecore_on_windows_is_hcs_not_available() -> None:
    exc = ImportError(
        "DLL load failed while importing _hcs: The specified module could not be found."
    )
    error = _native.hcs_not_available(exc, platform="win32")
    assert isinstance(error, HcsNotAvailableError)
    assert isinstance(error, ImportError)
    assert "Host Compute Service is not available" in str(error)
    assert "Hyper-V" in str(error)
    assert "DLL load failed" in str(error)  # the loader's own words are kept


def test_other_import_errors_pass_through() -> None:
    exc = ImportError("undefined symbol: HcsFoo")
    assert _native.hcs_not_available(exc, platform="linux") is exc
    assert _native.hcs_not_available(exc, platform="win32") is exc
    dll = ImportError("DLL load failed while importing _hcs")
    assert _native.hcs_not_available(dll, platform="linux") is dll


# ---------------------------------------------------------------- optional exports

SPEC_OPTIONAL_EXPORTS = {
    "HcsEnumerateComputeSystemsInNamespace": "Windows 10 2004 / Windows Server 2004",
    "HcsCreateComputeSystemInNamespace": "Windows 10 2004 / Windows Server 2004",
    "HcsOpenComputeSystemInNamespace": "Windows 10 2004 / Windows Server 2004",
    "HcsWaitForComputeSystemExit": "Windows 10 2104 / Windows Server 2022",
    "HcsWaitForProcessExit": "Windows 10 2104 / Windows Server 2022",
    "HcsGetProcessorCompatibilityFromSavedState": "Windows 10 2104 / Windows Server 2022",
    "HcsSetupBaseOSVolume": "Windows 10 2104 / Windows Server 2022",
    "HcsGrantVmGroupAccess": "Windows 10 2004 / Windows Server 2022",
    "HcsRevokeVmGroupAccess": "Windows 10 2004 / Windows Server 2022",
    # First declared by the Windows SDK 10.0.26100 (evidence in aiohcs/_native/_releases.py).
    **dict.fromkeys(
        (*sorted(NEWER_COMPUTECORE), "HcsCancelLiveMigration", *sorted(NEWER_COMPUTENETWORK)),
        "Windows 11 24H2 / Windows Server 2025",
    ),
}
#: Exports no SDK header declares (looked up by name on Windows).
COMPUTECORE_EXTRA = declared_functions("computecore_extra.cdef")


def test_optional_export_table_matches_the_spec() -> None:
    assert dict(_native.OPTIONAL_EXPORTS) == SPEC_OPTIONAL_EXPORTS
    declared = {*COMPUTECORE, *COMPUTESTORAGE, *COMPUTECORE_EXTRA, *COMPUTENETWORK}
    for name in SPEC_OPTIONAL_EXPORTS:
        assert name in declared
    assert _native.required_release("HcsCreateOperation") == "Windows 10 1809 / Windows Server 2019"


def test_the_newest_sdk_exports_are_what_older_headers_lack() -> None:
    # tools/windows_check.py leaves these out of the check against Debian's older headers.
    assert _releases.newest_sdk_exports() == NEWER_COMPUTECORE | NEWER_COMPUTENETWORK
    assert frozenset(COMPUTECORE_EXTRA) == _releases.UNDECLARED_EXPORTS
    assert _native.OPTIONAL_EXPORTS.keys() >= _releases.UNDECLARED_EXPORTS


@emulator_only
@pytest.mark.parametrize(
    "name", [*COMPUTECORE, *COMPUTESTORAGE, *COMPUTECORE_EXTRA, *COMPUTENETWORK]
)
def test_every_export_is_available_by_default(name: str) -> None:
    assert _native.export_available(name)
    _native.require_export(name)


def test_unknown_export_is_unavailable() -> None:
    assert not _native.export_available("HcsNoSuchFunction")
    with pytest.raises(UnsupportedOnThisHost) as info:
        _native.require_export("HcsNoSuchFunction")
    assert info.value.export == "HcsNoSuchFunction"


@emulator_only
@pytest.mark.parametrize("name", sorted(SPEC_OPTIONAL_EXPORTS))
def test_hidden_export_raises_unsupported_naming_the_release(name: str) -> None:
    # hcsim's control function itself: testing.hide_export knows the declared exports only.
    assert _native.hcsim.HcsimSetExportHidden(name.encode("ascii"), 1) == 0
    try:
        assert not _native.export_available(name)
        with pytest.raises(UnsupportedOnThisHost) as info:
            _native.require_export(name)
        error = info.value
        assert error.export == name
        assert error.release == SPEC_OPTIONAL_EXPORTS[name]
        assert error.hresult == HResult.ERROR_PROC_NOT_FOUND
        assert str(error) == (
            f"ERROR_PROC_NOT_FOUND (0x8007007F): {name} is not available on this host; "
            f"it needs {SPEC_OPTIONAL_EXPORTS[name]} or later"
        )
    finally:
        assert _native.hcsim.HcsimSetExportHidden(name.encode("ascii"), 0) == 0
    assert _native.export_available(name)


@emulator_only
def test_an_export_no_header_declares_is_resolved_by_name() -> None:
    # Windows: never linked, found by name in the loaded computecore.dll (module_win32.c)
    # and called through its pointer type; POSIX: hcsim's function, compiled in.
    if sys.platform == "win32":
        address = lib.aiohcs_export_address(b"HcsCancelLiveMigration")
        assert address != ffi.NULL
        cancel = ffi.cast("PFN_HcsCancelLiveMigration", address)
    else:
        cancel = lib.HcsCancelLiveMigration
    hr = cancel(ffi.NULL, ffi.NULL, ffi.NULL)
    assert hresult_u32(hr) == HResult.E_HANDLE


@emulator_only
def test_reset_unhides_exports() -> None:
    assert _native.hcsim.HcsimSetExportHidden(b"HcsWaitForProcessExit", 1) == 0
    assert _native.hcsim.HcsimReset() == 0
    assert _native.export_available("HcsWaitForProcessExit")


# ---------------------------------------------------------------- calls through the glue


@emulator_only
def test_open_unknown_system_is_system_not_found() -> None:
    handle = ffi.new("HCS_SYSTEM *")
    hr = lib.HcsOpenComputeSystem(_native.to_wide("no-such-system"), 0x10000000, handle)
    with pytest.raises(SystemNotFound) as info:
        check(hr, system_id="no-such-system")
    assert info.value.hresult == HResult.HCS_E_SYSTEM_NOT_FOUND
    assert "for system 'no-such-system'" in str(info.value)
    assert handle[0] == ffi.NULL
    assert testing.counts().system_handles == 0


@emulator_only
def test_service_properties_basic() -> None:
    result = _native.new_document_ptr()
    hr = lib.HcsGetServiceProperties(_native.to_wide('{"PropertyTypes":["Basic"]}'), result)
    document = _native.take_document(result)
    check(hr, document=document)
    assert document is not None
    parsed = json.loads(document)
    versions = parsed["Properties"][0]["SupportedSchemaVersions"]
    assert {"Major": 2} in [{"Major": v["Major"]} for v in versions]
    assert all(isinstance(v["Minor"], int) for v in versions)
    assert testing.counts().documents == 0


@emulator_only
def test_document_is_freed_on_the_success_path() -> None:
    result = _native.new_document_ptr()
    hr = lib.HcsGetServiceProperties(_native.to_wide('{"PropertyTypes":["Basic"]}'), result)
    assert hr == 0
    assert result[0] != ffi.NULL
    assert testing.counts().documents == 1
    assert _native.take_document(result)
    assert testing.counts().documents == 0


@emulator_only
def test_document_is_freed_on_the_error_path() -> None:
    # A bad settings document: the call fails and may return a ResultError.
    result = _native.new_document_ptr()
    hr = lib.HcsModifyServiceSettings(_native.to_wide("{not json"), result)
    document = _native.take_document(result)
    assert testing.counts().documents == 0
    with pytest.raises(HcsError) as info:
        check(hr, document=document)
    if document is not None:  # HCS contract §13.54: it parses and its Error is the HRESULT
        assert info.value.result_error is not None
        assert info.value.result_error["Error"] == info.value.signed_hresult


@emulator_only
def test_document_is_freed_when_decoding_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(p: Any) -> str:
        raise UnicodeDecodeError("utf-16-le", b"", 0, 1, "test")

    result = _native.new_document_ptr()
    assert lib.HcsGetServiceProperties(_native.to_wide('{"PropertyTypes":["Basic"]}'), result) == 0
    assert testing.counts().documents == 1
    monkeypatch.setattr(_native, "_decode", broken)
    with pytest.raises(UnicodeDecodeError):
        _native.take_document(result)
    assert testing.counts().documents == 0


@emulator_only
def test_optional_out_document_may_be_null() -> None:
    assert lib.HcsModifyServiceSettings(_native.to_wide("{not json"), ffi.NULL) < 0
    assert testing.counts().documents == 0


@emulator_only
def test_cancel_operation_is_not_implemented() -> None:
    operation = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
    assert operation != ffi.NULL
    try:
        assert lib.HcsGetOperationType(operation) == -1
        hr = lib.HcsCancelOperation(operation)
        assert hresult_u32(hr) == 0x80004001
        with pytest.raises(HcsError, match=r"^E_NOTIMPL \(0x80004001\)"):
            check(hr)
        assert lib.HcsGetOperationType(operation) == -1  # changes nothing
    finally:
        lib.HcsCloseOperation(operation)
    assert testing.counts().operations == 0


@emulator_only
def test_take_failure_fetches_the_document_and_closes_the_operation() -> None:
    # A synchronous failure (the fault injected into the call itself): no callback comes,
    # so aiohcs_take_failure is the one place that reads its document and closes it.
    testing.fail_next("HcsStartComputeSystem", -2143878907)
    operation = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
    assert lib.HcsStartComputeSystem(ffi.NULL, operation, ffi.NULL) == -2143878907
    result = _native.new_document_ptr()
    lib.aiohcs_take_failure(operation, result)
    document = _native.take_document(result)
    assert document is None or json.loads(document)["Error"] < 0
    assert testing.counts().operations == 0
    assert testing.counts().documents == 0


@emulator_only
def test_unused_operation_result_is_not_started() -> None:
    operation = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
    try:
        result = _native.new_document_ptr()
        hr = lib.HcsGetOperationResult(operation, result)
        assert hresult_u32(hr) == HResult.HCS_E_OPERATION_NOT_STARTED
        assert result[0] == ffi.NULL
        assert _native.take_document(result) is None
    finally:
        lib.HcsCloseOperation(operation)
