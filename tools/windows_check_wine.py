"""Windows Tier 2 smoke test, run by tools/windows_check.sh --tier2 under Wine.

Runs in Windows CPython 3.11 (stdlib + cffi's ``_cffi_backend`` only), with the module
built by Tier 1 as ``aiohcs._hcs`` in a bare package and stand-in computecore.dll /
computestorage.dll whose every export returns E_NOTIMPL (Wine has no HCS):

* the module loads (PE imports, abi3 ``python3.dll``, ``PyInit__hcs``);
* the size and field layout of every struct and typedef match the C compiler's (cffi
  checks them lazily, on first use: a field missing at the end of a struct, or an
  integer field of the wrong width, fails here, not in Tier 1), and every name resolves;
* calls reach the DLLs and come back with their HRESULT;
* the callback bridge's Windows code (SRWLOCK, winsock wake byte, QueryPerformanceCounter)
  queues an event pushed from another thread, wakes a socket and hands the item back.

Usage: python.exe windows_check_wine.py SITE_DIR PACKAGE_DIR STUB_DLL_DIR
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from typing import Any

E_NOTIMPL = -2147467263  # 0x80004001 as a signed HRESULT


def main(argv: list[str]) -> None:
    """Import the module and exercise it (see the module docstring)."""
    site, package, stubs = argv
    sys.path[:0] = [site, package]
    os.add_dll_directory(stubs)  # type: ignore[attr-defined,unused-ignore]  # Windows only
    from aiohcs._hcs import ffi, lib

    # The HCS DLLs are delay-loaded: the module's export lookup finds and loads them (from
    # the DLL directories), as aiohcs._native does first thing, before any call.
    assert lib.aiohcs_export_address(b"HcsCreateOperation") != ffi.NULL

    typedefs, structs, unions = ffi.list_types()
    sizes: dict[str, int] = {}
    opaque: list[str] = []
    names = [*typedefs, *("struct " + n for n in structs), *("union " + n for n in unions)]
    for name in names:
        try:
            sizes[name] = ffi.sizeof(name)
        except ffi.error as exc:  # opaque types (handles, SECURITY_DESCRIPTOR) only
            if "don't know the size" not in str(exc):
                raise
            opaque.append(name)
    assert sizes["HCS_PROCESS_INFORMATION"] == 32, sizes
    assert sizes["HCS_CREATE_OPTIONS_1"] == 48, sizes
    assert sizes["HCS_EVENT"] == 24, sizes
    # computenetwork.h: GUID, GUID, enum (+4 padding), UINT64, 3 UINT32, 2 UINT16.
    if "HCN_PORT_RANGE_ENTRY" in sizes:
        assert sizes["HCN_PORT_RANGE_ENTRY"] == 64, sizes
        assert sizes["HCN_PORT_RANGE_RESERVATION"] == 4, sizes
    print(f"sizes checked: {len(sizes)} types ({len(opaque)} opaque)")

    # Functions, constants and enumerators are looked up on first access.
    names = dir(lib)
    for name in names:
        getattr(lib, name)
    print(f"names resolved: {len(names)}")

    out = ffi.new("PWSTR *")
    hr = lib.HcsGetServiceProperties(ffi.NULL, out)
    assert hr == E_NOTIMPL, hex(hr & 0xFFFFFFFF)
    hr = lib.HcsDestroyLayer(ffi.new("WCHAR[]", "C:\\layer"))
    assert hr == E_NOTIMPL, hex(hr & 0xFFFFFFFF)
    assert lib.aiohcs_utf16_len(ffi.new("WCHAR[]", "h\u00e9llo")) == 5
    if hasattr(lib, "HcnEnumerateNetworks"):
        error = ffi.new("PWSTR *")
        hr = lib.HcnEnumerateNetworks(ffi.NULL, out, error)
        assert hr == E_NOTIMPL, hex(hr & 0xFFFFFFFF)
        print("calls reach computecore/computestorage/computenetwork")
    else:
        print("calls reach computecore/computestorage")

    _check_bridge(ffi, lib)
    print("windows_check_wine: OK")


def _check_bridge(ffi: Any, lib: Any) -> None:
    if not hasattr(lib, "aiohcs_queue_new"):
        print("no callback bridge in this module: skipped its check")
        return
    reader, writer = socket.socketpair()
    reader.settimeout(10)
    writer.setblocking(False)
    queue = lib.aiohcs_queue_new(writer.fileno())
    try:
        ident = lib.aiohcs_register(queue, 0)
        assert ident != 0
        event = ffi.new("HCS_EVENT *")
        data = ffi.new("WCHAR[]", '{"ExitCode":7}')
        event.Type = lib.HcsEventSystemExited
        event.EventData = data
        context = ffi.cast("void *", ident)
        worker = threading.Thread(target=lib.aiohcs_event_callback, args=(event, context))
        worker.start()
        worker.join()
        assert reader.recv(16) == b"x"
        items = ffi.new("aiohcs_item[4]")
        count = lib.aiohcs_queue_drain(queue, items, 4)
        assert count == 1, count
        item = items[0]
        assert item.id == ident
        assert item.kind == lib.AIOHCS_ITEM_EVENT
        assert item.event_type == lib.HcsEventSystemExited
        text = ffi.unpack(item.payload, item.payload_length)
        assert text == '{"ExitCode":7}', text
        assert item.timestamp_ns > 0
        lib.aiohcs_items_release(items, count)
        assert lib.aiohcs_unregister(ident) == 1
        # A late callback for a forgotten id is ignored.
        lib.aiohcs_event_callback(event, context)
        assert lib.aiohcs_queue_length(queue) == 0
    finally:
        lib.aiohcs_queue_free(queue)
        reader.close()
        writer.close()
    print("callback bridge: event queued from another thread, socket woken, item drained")


if __name__ == "__main__":
    main(sys.argv[1:])
