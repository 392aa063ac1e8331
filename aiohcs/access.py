r"""A VM's access to its host files, and its state files (computecore's VM file utilities).

HCS runs each VM in a worker process under an account of its own, derived from the compute
system's id, so a VM can open a virtual disk, an ISO, a guest or runtime state file or a
saved state only once the client has granted it access: :func:`grant_vm_access` (one VM) or
:func:`grant_vm_group_access` (every VM). A start that needs a file the VM was not granted
fails with :class:`~aiohcs.errors.AccessDenied` whose message names the file; hcsim keeps
the same access list (hcsim README, "VM access"), so code that forgets a grant fails on
Linux CI too.

Each call is synchronous in HCS (an RPC to the compute service), so it runs in a worker
thread and never stalls the event loop. Cancelling an await abandons the wait, never the
work: the call runs to its end, then the cancellation is delivered. A path is a ``str``
or ``os.PathLike`` without NUL characters, and absolute: HCS resolves paths in the compute
service, not in the caller's directory, so on Windows it names a drive or a share
(``C:\vms\disk.vhdx``, ``\\server\share\disk.vhdx``), elsewhere (hcsim) it starts
with ``/``. A VM id is a non-empty string without NUL characters.
Anything else raises :class:`~aiohcs.errors.InvalidArgumentError` before HCS is called.
HCS errors raise the classes of :mod:`aiohcs.errors`, their message naming the path (and
the VM): a missing file is an :class:`~aiohcs.errors.HcsError` with ``hresult``
``ERROR_FILE_NOT_FOUND``, a state file that exists one with ``ERROR_FILE_EXISTS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeAlias

from aiohcs import _host_calls, _json
from aiohcs._args import check_host_path, check_name
from aiohcs._hresult import describe
from aiohcs._native import CData, ffi, lib, require_export, take_document, to_wide
from aiohcs.errors import HcsError, error_from_hresult

#: A path argument: ``str`` or ``os.PathLike`` (absolute: see the module's docstring).
StrPath: TypeAlias = "str | os.PathLike[str]"

__all__ = [
    "ProcessorCompatibility",
    "create_empty_guest_state_file",
    "create_empty_runtime_state_file",
    "grant_vm_access",
    "grant_vm_group_access",
    "processor_compatibility_from_saved_state",
    "revoke_vm_access",
    "revoke_vm_group_access",
]

_GROUP_GRANT: Final = "HcsGrantVmGroupAccess"
_GROUP_REVOKE: Final = "HcsRevokeVmGroupAccess"
_COMPATIBILITY: Final = "HcsGetProcessorCompatibilityFromSavedState"


@dataclass(frozen=True)
class ProcessorCompatibility:
    """What a saved state requires of a host's processors.

    ``document`` is the JSON object HCS returned (a ``VmProcessorRequirements`` document of
    Microsoft's schema reference, which no published schema file defines), kept as is and
    read-only; ``text`` is its JSON text, for passing on unchanged. The members depend on
    the Windows release; hcsim answers the ``ProcessorRequirements`` it recorded at the save
    (``ProcessorCount``, ``Architecture``, ``ProcessorFeatures``).
    """

    document: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    text: str = "{}"

    def get(self, member: str, default: Any = None) -> Any:
        """The member ``member`` of the document, or ``default``."""
        return self.document.get(member, default)


async def _run(
    operation: str, call: Callable[[], tuple[int, str | None]], path: str, vm_id: str | None = None
) -> str | None:
    """Run one blocking HCS call off the loop, after this call's admission (see _host_calls).

    A failure's message names ``path`` (and ``vm_id``), which HCS's errors do not.
    """
    subject = path if vm_id is None else f"{path}, VM {vm_id}"

    def failure(hr: int) -> HcsError:
        meaning = describe(hr & 0xFFFFFFFF)
        return error_from_hresult(
            hr, f"{meaning} ({subject})" if meaning else subject, operation=operation
        )

    await _host_calls.admit()
    return await _host_calls.call(operation, call, failure=failure)


def _path(path: Any) -> tuple[str, CData]:
    """The checked path (for messages) and its wide string (for HCS)."""
    where = check_host_path(path, "path")
    return where, to_wide(where)


def _vm(vm_id: Any) -> tuple[str, CData]:
    """The checked VM id and its wide string."""
    vm = check_name(vm_id, "vm_id")
    return vm, to_wide(vm)


async def _file_call(operation: str, path: Any, *, require: str | None = None) -> None:
    """Run the export ``Hcs<operation>(path)`` for the checked ``path``.

    ``require``: an export the host must have (checked after the path, before the call).
    """
    where, w_path = _path(path)
    if require is not None:
        require_export(require)
    export = getattr(lib, "Hcs" + operation)
    await _run(operation, lambda: (export(w_path), None), where)


async def grant_vm_access(vm_id: str, path: StrPath) -> None:
    """Grant the VM whose compute system id is ``vm_id`` access to the file ``path``.

    The VM may then open it (a virtual disk, ISO, state or saved-state file). Granting
    twice is harmless. The file must exist (``ERROR_FILE_NOT_FOUND`` otherwise); the VM
    need not exist yet, so grant before the start (or the restore) that needs the file.
    """
    (vm, w_vm), (where, w_path) = _vm(vm_id), _path(path)
    await _run("GrantVmAccess", lambda: (lib.HcsGrantVmAccess(w_vm, w_path), None), where, vm)


async def revoke_vm_access(vm_id: str, path: StrPath) -> None:
    """Take back the access :func:`grant_vm_access` gave ``vm_id`` to ``path``.

    A VM already running keeps the files it has open; its next start needs a new grant.
    Revoking what was never granted is not an error.
    """
    (vm, w_vm), (where, w_path) = _vm(vm_id), _path(path)
    await _run("RevokeVmAccess", lambda: (lib.HcsRevokeVmAccess(w_vm, w_path), None), where, vm)


async def grant_vm_group_access(path: StrPath) -> None:
    """Grant every VM access to the file ``path`` (a shared ISO, a base disk ...).

    Needs Windows 10 2004 / Windows Server 2022
    (:class:`~aiohcs.errors.UnsupportedOnThisHost` on older hosts).
    """
    await _file_call("GrantVmGroupAccess", path, require=_GROUP_GRANT)


async def revoke_vm_group_access(path: StrPath) -> None:
    """Take back the access :func:`grant_vm_group_access` gave every VM to ``path``.

    Grants to single VMs stay. Needs Windows 10 2004 / Windows Server 2022.
    """
    await _file_call("RevokeVmGroupAccess", path, require=_GROUP_REVOKE)


async def create_empty_guest_state_file(path: StrPath) -> None:
    """Create an empty guest state file (``.vmgs``) at ``path``.

    For ``VirtualMachine.GuestState.GuestStateFilePath``, where a VM keeps its firmware
    state across runs; grant the VM access to it before its start. An existing file is
    left alone and raises an :class:`~aiohcs.errors.HcsError` with ``ERROR_FILE_EXISTS``.
    """
    await _file_call("CreateEmptyGuestStateFile", path)


async def create_empty_runtime_state_file(path: StrPath) -> None:
    """Create an empty runtime state file (``.vmrs``) at ``path``.

    For ``VirtualMachine.GuestState.RuntimeStateFilePath``; as
    :func:`create_empty_guest_state_file` otherwise.
    """
    await _file_call("CreateEmptyRuntimeStateFile", path)


async def processor_compatibility_from_saved_state(path: StrPath) -> ProcessorCompatibility:
    """Read what the saved state at ``path`` (a ``.vmrs``) requires of a host's processors.

    To check, before a restore or a migration, that a host can run the VM. Needs Windows
    10 2104 / Windows Server 2022. A file that is not a saved state raises an
    :class:`~aiohcs.errors.HcsError` (``ERROR_INVALID_DATA`` on hcsim).
    """
    where, w_path = _path(path)
    require_export(_COMPATIBILITY)

    def call() -> tuple[int, str | None]:
        # The out string is the caller's to LocalFree (Microsoft's reference), despite its
        # PCWSTR type: take_document decodes and frees it on every path.
        pp = ffi.new("PCWSTR *")
        hr: int = lib.HcsGetProcessorCompatibilityFromSavedState(w_path, pp)
        return hr, take_document(pp)

    text = await _run("GetProcessorCompatibilityFromSavedState", call, where)
    return _compatibility(text)


def _compatibility(text: str | None) -> ProcessorCompatibility:
    """The result of a successful call: its JSON object (leniently read: HCS wrote it)."""
    document = _json.read_object(text)
    if document is None:
        return ProcessorCompatibility(text=text or "{}")
    return ProcessorCompatibility(MappingProxyType(document), text or "{}")
