"""The shared Hcn call helper (aiohcs._hcn_call), HCN HRESULT names and their exceptions.

The call helper is driven here with stand-in C functions (any export hcsim has passes the
export check), so that what it promises is tested without computenetwork itself: the
strings are freed with CoTaskMemFree in every case, failures become typed errors naming the
call and the object, and a handle made by a call whose await was cancelled is closed.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiohcs import _hcn_call, _native
from aiohcs._hcn_call import HcnOut, guid_from, hcn_call, uuid_from_any
from aiohcs._native import ffi
from aiohcs.errors import (
    AddressUnavailable,
    AlreadyExists,
    HcsError,
    HResult,
    InUse,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidJson,
    NotFound,
    ProcessNotFound,
    ResourceExhausted,
    SystemAlreadyExists,
    hcn_error_class,
    hcn_error_from_hresult,
    hresult_name,
)

# An export every build has: hcn_call's export check passes, the function is a stand-in.
_ANY_EXPORT = "HcsEnumerateComputeSystems"


class FreeSpy:
    """Stands in for CoTaskMemFree: records what is freed (Python owns the buffers)."""

    def __init__(self) -> None:
        self.freed: list[int] = []
        self.keep: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, p: Any) -> None:
        with self.lock:
            self.freed.append(int(ffi.cast("uintptr_t", p)))

    def string(self, text: str) -> tuple[Any, int]:
        buf = ffi.new("char[]", text.encode("utf-16-le") + b"\0\0")
        self.keep.append(buf)
        return ffi.cast("PWSTR", buf), int(ffi.cast("uintptr_t", buf))


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> FreeSpy:
    spy = FreeSpy()
    monkeypatch.setattr(_native, "_co_task_mem_free", spy)
    return spy


# ---------------------------------------------------------------- ids


def test_uuid_from_any_accepts_every_spelling() -> None:
    u = uuid.UUID("0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21")
    assert uuid_from_any(u) is u
    for text in (str(u), str(u).upper(), "{" + str(u) + "}", "{" + str(u).upper() + "}"):
        assert uuid_from_any(text) == u


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x",
        "0f5a3e4c8a4b4f7e9d2c1b6e0a9d3c21",
        "{0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21",
        "urn:uuid:0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21",
        "0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c2g",
        " 0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21",
    ],
)
def test_uuid_from_any_refuses_bad_text(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="network_id must be a GUID"):
        uuid_from_any(text, "network_id")


GUID_SPELLINGS = [
    "0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21",
    "0F5A3E4C-8A4B-4F7E-9D2C-1B6E0A9D3C21",
    "{0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21}",
    "{0F5A3E4C-8a4b-4f7e-9d2c-1b6e0a9d3c21}",
]
NOT_GUIDS = [
    "0f5a3e4c8a4b4f7e9d2c1b6e0a9d3c21",
    "0f5a3e4c8-a4b-4f7e-9d2c-1b6e0a9d3c21",  # (36 characters, 4 dashes, misplaced)
    "{0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21",
    "0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21\n",
    "urn:uuid:0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21",
]


def test_ids_are_read_the_same_everywhere() -> None:
    """HCN ids, Hyper-V socket ids and the HCN models' GUID fields: one reader."""
    from aiohcs.hvsocket import HvSocketAddress
    from aiohcs.schema import hcn as models

    u = uuid.UUID(GUID_SPELLINGS[0])
    for text in GUID_SPELLINGS:
        assert uuid_from_any(text) == u
        assert HvSocketAddress(text, text) == (u, u)
        assert models.HostComputeNetwork.model_validate({"ID": text}).id == str(u)
    for text in NOT_GUIDS:
        with pytest.raises(InvalidArgumentError):
            uuid_from_any(text)
        with pytest.raises(InvalidArgumentError):
            HvSocketAddress(text, u)
        with pytest.raises(ValueError, match="not a GUID"):
            models.HostComputeNetwork.model_validate({"ID": text})


@pytest.mark.parametrize("value", [None, 1, b"0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21", object()])
def test_uuid_from_any_refuses_other_types(value: object) -> None:
    with pytest.raises(InvalidArgumentTypeError, match=r"id must be a uuid\.UUID"):
        uuid_from_any(value)


@given(st.uuids())
def test_guid_from_lays_out_the_fields_as_windows(u: uuid.UUID) -> None:
    g = guid_from(u)
    # A GUID in memory is Data1..3 little-endian then Data4: uuid's bytes_le.
    assert bytes(ffi.buffer(g)) == u.bytes_le


# ---------------------------------------------------------------- HRESULTs and errors


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HCN_E_NETWORK_NOT_FOUND", 0x803B0001),
        ("HCN_E_INVALID_JSON", 0x803B001B),
        ("HCN_E_MANAGER_STOPPED", 0x803B0020),
        ("GCN_E_MODULE_NOT_FOUND", 0x803B0021),
        ("HCN_E_ENTITY_HAS_REFERENCES", 0x803B002C),
        ("HCN_E_ADDR_INVALID_OR_RESERVED", 0x803B002F),
    ],
)
def test_hcn_hresults_have_names(name: str, value: int) -> None:
    assert HResult[name] == value
    assert hresult_name(value) == name


def test_every_hcn_code_is_named() -> None:
    names = {hresult_name(0x803B0000 | code) for code in range(1, 0x30)}
    assert not any(n.startswith("0x") for n in names)
    assert len(names) == 0x2F


@pytest.mark.parametrize(
    ("hr", "cls"),
    [
        (HResult.HCN_E_NETWORK_NOT_FOUND, NotFound),
        (HResult.HCN_E_ENDPOINT_NOT_FOUND, NotFound),
        (HResult.HCN_E_POLICY_NOT_FOUND, NotFound),
        (HResult.HCN_E_SWITCH_EXTENSION_NOT_FOUND, NotFound),
        (HResult.GCN_E_NETADAPTER_NOT_FOUND, NotFound),
        (HResult.ERROR_NOT_FOUND, NotFound),
        (HResult.HCN_E_NETWORK_ALREADY_EXISTS, AlreadyExists),
        (HResult.HCN_E_ENDPOINT_ALREADY_ATTACHED, AlreadyExists),
        (HResult.HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS, AlreadyExists),
        (HResult.ERROR_ALREADY_EXISTS, AlreadyExists),
        (HResult.ERROR_OBJECT_ALREADY_EXISTS, AlreadyExists),
        (HResult.HCN_E_ENTITY_HAS_REFERENCES, InUse),
        (HResult.HCN_E_INVALID_JSON, InvalidJson),
        (HResult.ERROR_NO_MORE_ITEMS, ResourceExhausted),
        (HResult.E_OUTOFMEMORY, ResourceExhausted),
        (HResult.HCN_E_INVALID_IP, AddressUnavailable),
        (HResult.HCN_E_ADDR_INVALID_OR_RESERVED, AddressUnavailable),
        (HResult.E_INVALIDARG, HcsError),
        (0x803B0FFF, HcsError),
    ],
)
def test_hcn_error_classes(hr: int, cls: type[HcsError]) -> None:
    assert hcn_error_class(hr) is cls
    assert hcn_error_class(hr - 0x100000000) is cls  # signed, as C gives it


def test_hcn_not_found_is_not_a_process_error() -> None:
    assert hcn_error_class(HResult.ERROR_NOT_FOUND) is NotFound
    assert not issubclass(NotFound, ProcessNotFound)


def test_system_already_exists_is_an_already_exists() -> None:
    assert issubclass(SystemAlreadyExists, AlreadyExists)


def test_an_hcn_error_names_the_call_and_the_object() -> None:
    record = '{"Error": -2143617023, "ErrorMessage": "Network not found", "Success": false}'
    e = hcn_error_from_hresult(
        HResult.HCN_E_NETWORK_NOT_FOUND,
        call="HcnOpenNetwork",
        subject="network 0f5a",
        document=record,
    )
    assert isinstance(e, NotFound)
    assert e.operation == "HcnOpenNetwork"
    assert e.subject == "network 0f5a"
    assert e.message == "Network not found"
    assert str(e) == (
        "HCN_E_NETWORK_NOT_FOUND (0x803B0001) in HcnOpenNetwork of network 0f5a: Network not found"
    )


def test_an_hcn_error_without_record_says_the_meaning() -> None:
    e = hcn_error_from_hresult(HResult.HCN_E_ENTITY_HAS_REFERENCES, call="HcnDeleteNetwork")
    assert isinstance(e, InUse)
    assert "referenced" in str(e)
    assert e.document is None


# ---------------------------------------------------------------- take_network_document


def test_take_network_document_frees_with_cotaskmemfree(spy: FreeSpy) -> None:
    p, address = spy.string('{"ID":"x"}')
    pp = ffi.new("PWSTR *", p)
    assert _native.take_network_document(pp) == '{"ID":"x"}'
    assert spy.freed == [address]
    assert pp[0] == ffi.NULL
    assert _native.take_network_document(pp) is None
    assert spy.freed == [address]


# ---------------------------------------------------------------- hcn_call


@pytest.mark.anyio
async def test_hcn_call_returns_the_document_and_frees_both_strings(spy: FreeSpy) -> None:
    doc, doc_address = spy.string('["a"]')
    err, err_address = spy.string("")

    def fn(out: HcnOut) -> int:
        out.document[0] = doc
        out.error_record[0] = err
        return 0

    result = await hcn_call(_ANY_EXPORT, fn, subject="networks")
    assert result.document == '["a"]'
    assert result.handle == 0
    assert sorted(spy.freed) == sorted([doc_address, err_address])


@pytest.mark.anyio
async def test_hcn_call_raises_the_typed_error_and_frees_the_record(spy: FreeSpy) -> None:
    err, err_address = spy.string('{"Error": -2143617022, "ErrorMessage": "gone"}')

    def fn(out: HcnOut) -> int:
        out.error_record[0] = err
        return HResult.HCN_E_ENDPOINT_NOT_FOUND - 0x100000000

    with pytest.raises(NotFound) as info:
        await hcn_call(_ANY_EXPORT, fn, subject="endpoint e1")
    assert info.value.operation == _ANY_EXPORT
    assert info.value.subject == "endpoint e1"
    assert info.value.message == "gone"
    assert spy.freed == [err_address]


@pytest.mark.anyio
async def test_hcn_call_returns_the_handle(spy: FreeSpy) -> None:
    def fn(out: HcnOut) -> int:
        out.handle[0] = ffi.cast("void *", 0x1234)
        return 0

    result = await hcn_call(_ANY_EXPORT, fn, subject="network n", close="HcnCloseNetwork")
    assert result.handle == 0x1234


@pytest.mark.anyio
async def test_hcn_call_checks_the_export(spy: FreeSpy) -> None:
    from aiohcs.errors import UnsupportedOnThisHost

    with pytest.raises(UnsupportedOnThisHost, match="HcnNoSuchExport"):
        await hcn_call("HcnNoSuchExport", lambda out: 0, subject="x")


@pytest.mark.anyio
async def test_a_handle_made_by_a_cancelled_call_is_closed(
    spy: FreeSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[tuple[str, int]] = []
    done = threading.Event()

    def fake_close(close: str, handle: int) -> None:
        closed.append((close, handle))
        done.set()

    monkeypatch.setattr(_hcn_call, "close_handle", fake_close)
    started = threading.Event()

    def fn(out: HcnOut) -> int:
        started.set()
        time.sleep(0.1)
        out.handle[0] = ffi.cast("void *", 0x5678)
        return 0

    with anyio.move_on_after(0.02) as scope:
        await hcn_call(_ANY_EXPORT, fn, subject="network n", close="HcnCloseNetwork")
    assert scope.cancelled_caught
    assert started.is_set()
    await anyio.to_thread.run_sync(done.wait, 5)
    assert closed == [("HcnCloseNetwork", 0x5678)]


@pytest.mark.anyio
async def test_a_failed_cancelled_call_closes_nothing(
    spy: FreeSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[int] = []
    monkeypatch.setattr(_hcn_call, "close_handle", lambda close, handle: closed.append(handle))

    def fn(out: HcnOut) -> int:
        time.sleep(0.05)
        return HResult.E_INVALIDARG - 0x100000000

    with pytest.raises(HcsError), anyio.move_on_after(0.01):  # the call's outcome wins
        await hcn_call(_ANY_EXPORT, fn, subject="network n", close="HcnCloseNetwork")
    await anyio.sleep(0.1)
    assert closed == []
