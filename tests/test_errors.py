"""aiohcs.errors: HRESULT classification, names, messages and ResultError parsing."""

from __future__ import annotations

import json
import pickle

import pytest
from helpers import run_python
from hypothesis import given
from hypothesis import strategies as st

from aiohcs import errors
from aiohcs.errors import (
    AccessDenied,
    HcsError,
    HResult,
    InvalidJson,
    InvalidState,
    OperationTimeout,
    ProcessAlreadyStopped,
    ProcessNotFound,
    ServiceDisconnected,
    SystemAlreadyExists,
    SystemAlreadyStopped,
    SystemNotFound,
    UnsupportedOnThisHost,
    error_from_hresult,
    hresult_name,
    hresult_u32,
)


def signed(value: int) -> int:
    """The signed 32-bit spelling of an unsigned HRESULT (as C and ResultError.Error give it)."""
    return value - (1 << 32) if value & 0x80000000 else value


# HCS contract §9.1, verbatim values.
HCS_E_TABLE = {
    "HCS_E_TERMINATED_DURING_START": 0x80370100,
    "HCS_E_IMAGE_MISMATCH": 0x80370101,
    "HCS_E_HYPERV_NOT_INSTALLED": 0x80370102,
    "HCS_E_INVALID_STATE": 0x80370105,
    "HCS_E_UNEXPECTED_EXIT": 0x80370106,
    "HCS_E_TERMINATED": 0x80370107,
    "HCS_E_CONNECT_FAILED": 0x80370108,
    "HCS_E_CONNECTION_TIMEOUT": 0x80370109,
    "HCS_E_CONNECTION_CLOSED": 0x8037010A,
    "HCS_E_UNKNOWN_MESSAGE": 0x8037010B,
    "HCS_E_UNSUPPORTED_PROTOCOL_VERSION": 0x8037010C,
    "HCS_E_INVALID_JSON": 0x8037010D,
    "HCS_E_SYSTEM_NOT_FOUND": 0x8037010E,
    "HCS_E_SYSTEM_ALREADY_EXISTS": 0x8037010F,
    "HCS_E_SYSTEM_ALREADY_STOPPED": 0x80370110,
    "HCS_E_PROTOCOL_ERROR": 0x80370111,
    "HCS_E_INVALID_LAYER": 0x80370112,
    "HCS_E_WINDOWS_INSIDER_REQUIRED": 0x80370113,
    "HCS_E_SERVICE_NOT_AVAILABLE": 0x80370114,
    "HCS_E_OPERATION_NOT_STARTED": 0x80370115,
    "HCS_E_OPERATION_ALREADY_STARTED": 0x80370116,
    "HCS_E_OPERATION_PENDING": 0x80370117,
    "HCS_E_OPERATION_TIMEOUT": 0x80370118,
    "HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET": 0x80370119,
    "HCS_E_OPERATION_RESULT_ALLOCATION_FAILED": 0x8037011A,
    "HCS_E_ACCESS_DENIED": 0x8037011B,
    "HCS_E_GUEST_CRITICAL_ERROR": 0x8037011C,
    "HCS_E_PROCESS_INFO_NOT_AVAILABLE": 0x8037011D,
    "HCS_E_SERVICE_DISCONNECT": 0x8037011E,
    "HCS_E_PROCESS_ALREADY_STOPPED": 0x8037011F,
}
# HCS contract §9.2.
OTHER_TABLE = {
    "E_NOTIMPL": 0x80004001,
    "E_INVALIDARG": 0x80070057,
    "E_ACCESSDENIED": 0x80070005,
    "E_HANDLE": 0x80070006,  # = HRESULT_FROM_WIN32(ERROR_INVALID_HANDLE)
    "ERROR_NOT_FOUND": 0x80070490,
    "ERROR_INVALID_DATA": 0x8007000D,
    "ERROR_NOT_SUPPORTED": 0x80070032,
    "ERROR_PROC_NOT_FOUND": 0x8007007F,
}

CLASSES = {
    0x80370105: InvalidState,
    0x8037010D: InvalidJson,
    0x8037010E: SystemNotFound,
    0x8037010F: SystemAlreadyExists,
    0x80370110: SystemAlreadyStopped,
    0x80370118: OperationTimeout,
    0x8037011B: AccessDenied,
    0x8037011E: ServiceDisconnected,
    0x8037011F: ProcessAlreadyStopped,
    0x80070490: ProcessNotFound,
    0x80070005: AccessDenied,
    0x8007007F: UnsupportedOnThisHost,
}


@pytest.mark.parametrize(("name", "value"), sorted({**HCS_E_TABLE, **OTHER_TABLE}.items()))
def test_every_documented_hresult_is_known_by_name(name: str, value: int) -> None:
    assert HResult[name] == value
    assert hresult_name(value) == name
    assert hresult_name(signed(value)) == name
    assert error_from_hresult(value).name == name


@pytest.mark.parametrize(("name", "value"), sorted(HCS_E_TABLE.items()))
def test_every_hcs_error_has_a_description(name: str, value: int) -> None:
    error = error_from_hresult(value)
    assert error.message
    assert error.message != name


def _id(value: object) -> str:
    return hex(value) if isinstance(value, int) else getattr(value, "__name__", str(value))


@pytest.mark.parametrize(("value", "cls"), sorted(CLASSES.items()), ids=_id)
def test_classification(value: int, cls: type[HcsError]) -> None:
    for spelling in (value, signed(value)):
        error = error_from_hresult(spelling)
        assert type(error) is cls
        assert error.hresult == value


@pytest.mark.parametrize(
    ("value", "cls"), [(v, c) for v, c in sorted(CLASSES.items()) if v >> 16 == 0x8037], ids=_id
)
def test_legacy_vmcompute_form_classifies_alike(value: int, cls: type[HcsError]) -> None:
    legacy = 0xC0370000 | (value & 0xFFFF)
    for spelling in (legacy, signed(legacy)):
        error = error_from_hresult(spelling)
        assert type(error) is cls
        assert error.hresult == legacy
        assert error.name == hresult_name(value)  # named after its 0x8037 twin
        assert f"0x{legacy:08X}" in str(error)


def test_legacy_only_codes_have_their_vmcompute_names() -> None:
    assert hresult_name(0xC0370103) == "ERROR_VMCOMPUTE_OPERATION_PENDING"
    assert hresult_name(0xC0370104) == "ERROR_VMCOMPUTE_TOO_MANY_NOTIFICATIONS"
    assert hresult_name(0x80370103) == "0x80370103"  # not an HCS_E_ value


@pytest.mark.parametrize(
    "value",
    [
        0x80370100,
        0x80370101,
        0x80370102,
        0x80370106,
        0x80370114,
        0x80370117,
        0x80370119,
        0x80004001,
        0x80004005,
        0x80070057,
        0x80070006,
        0x8007000D,
        0x80071234,
        0x8037FFFF,
        0xC037FFFF,
        0x00000000,
        0x00000001,
        0x00370105,
    ],
    ids=hex,
)
def test_catch_all(value: int) -> None:
    assert type(error_from_hresult(value)) is HcsError


def test_non_error_facility_0x37_is_not_classified() -> None:
    # Only failures (severity bit set) are HCS errors by low word.
    assert type(error_from_hresult(0x0037010E)) is HcsError


def test_unknown_values_are_named_by_hex() -> None:
    assert hresult_name(0x80071234) == "0x80071234"
    assert hresult_name(-1) == "0xFFFFFFFF"
    error = error_from_hresult(0x80071234)
    assert str(error) == "0x80071234"  # no name, no message: the hex alone, not twice
    assert error.win32_error == 0x1234


def test_hresult_u32_range() -> None:
    assert hresult_u32(-2143878907) == 0x80370105
    assert hresult_u32(0x80370105) == 0x80370105
    assert hresult_u32(0) == 0
    for bad in (1 << 32, -(1 << 31) - 1):
        with pytest.raises(ValueError, match="32-bit"):
            hresult_u32(bad)


@given(st.integers(min_value=-(1 << 31), max_value=(1 << 32) - 1))
def test_any_32bit_value_gives_an_hcs_error(value: int) -> None:
    error = error_from_hresult(value)
    assert isinstance(error, HcsError)
    assert error.hresult == value & 0xFFFFFFFF
    assert error.signed_hresult == signed(value & 0xFFFFFFFF)
    text = str(error)
    assert text
    assert "\n" not in text
    assert error.name in text


def test_str_is_one_readable_line() -> None:
    error = error_from_hresult(0x80370105, operation="Start", system_id="vm1")
    assert str(error) == (
        "HCS_E_INVALID_STATE (0x80370105) in Start of system 'vm1': "
        "The requested operation is not valid in the current state"
    )


def test_str_context_variants() -> None:
    assert str(error_from_hresult(0x8037010E, system_id="x")).startswith(
        "HCS_E_SYSTEM_NOT_FOUND (0x8037010E) for system 'x': "
    )
    assert str(error_from_hresult(0x8037011F, operation="SignalProcess", process_id=42)).startswith(
        "HCS_E_PROCESS_ALREADY_STOPPED (0x8037011F) in SignalProcess of process 42: "
    )
    both = error_from_hresult(0x8037011F, process_id=7, system_id="c1")
    assert "for process 7 of system 'c1'" in str(both)
    assert str(error_from_hresult(0x80004001)) == "E_NOTIMPL (0x80004001): Not implemented"


def test_operation_given_as_operation_type_value() -> None:
    assert error_from_hresult(0x80370105, operation=2).operation == "Start"
    assert error_from_hresult(0x80370105, operation=15).operation == "Crash"
    assert error_from_hresult(0x80370105, operation=99).operation == "operation type 99"
    assert errors.OPERATION_TYPE_NAMES[-1] == "None"


def test_attributes() -> None:
    error = error_from_hresult(signed(0x80370110), operation="Terminate", system_id="s")
    assert isinstance(error, SystemAlreadyStopped)
    assert error.hresult == 0x80370110
    assert error.signed_hresult == -2143878896
    assert error.facility == 0x37
    assert error.code == 0x110
    assert error.win32_error is None
    assert error.operation == "Terminate"
    assert error.system_id == "s"
    assert error.process_id is None
    assert error.document is None
    assert error.result_error is None
    assert error.error_events == []
    assert error_from_hresult(0x80070490).win32_error == 1168


RESULT_ERROR = {
    "Error": signed(0x8037010E),
    "ErrorMessage": "A virtual machine or container with the specified identifier does not exist.",
    "ErrorEvents": [
        {
            "Message": "The system 'vm9' was not found",
            "Provider": "17103e3f-3c6e-4677-bb17-3b267eb5be57",
            "EventId": 11103,
            "Flags": 0,
            "Source": "vmcompute",
            "Data": [{"Type": "String", "Value": "vm9"}, {"Type": "Int32", "Value": "-2143878898"}],
        },
        "not an object",
    ],
    "Attribution": [{"SystemExit": {"Detail": "Shutdown", "Initiator": "Client"}}],
}


def test_result_error_document_is_parsed() -> None:
    document = json.dumps(RESULT_ERROR)
    error = error_from_hresult(0x8037010E, document=document, system_id="vm9")
    assert isinstance(error, SystemNotFound)
    assert error.document == document
    assert error.result_error == RESULT_ERROR
    assert error.message == RESULT_ERROR["ErrorMessage"]
    assert len(error.error_events) == 1  # the non-object entry is dropped
    event = error.error_events[0]
    assert event["Message"] == "The system 'vm9' was not found"
    assert event["Data"][0] == {"Type": "String", "Value": "vm9"}
    text = str(error)
    assert "\n" not in text
    assert text.startswith("HCS_E_SYSTEM_NOT_FOUND (0x8037010E) for system 'vm9': A virtual")
    assert "(The system 'vm9' was not found)" in text


def test_result_error_as_bytes_and_mapping() -> None:
    from_bytes = error_from_hresult(0x8037010E, document=json.dumps(RESULT_ERROR).encode())
    from_dict = error_from_hresult(0x8037010E, document=RESULT_ERROR)
    assert from_bytes.result_error == from_dict.result_error == RESULT_ERROR
    assert from_dict.document is None


def test_explicit_message_wins_over_document() -> None:
    error = error_from_hresult(0x8037010E, "mine", document=json.dumps(RESULT_ERROR))
    assert error.message == "mine"


def test_multiline_messages_print_on_one_line() -> None:
    document = json.dumps(
        {
            "ErrorMessage": "first line\r\nsecond\tline  ",
            "ErrorEvents": [{"Message": "event\nmessage"}],
        }
    )
    text = str(error_from_hresult(0x80370105, document=document))
    assert text == ("HCS_E_INVALID_STATE (0x80370105): first line second line (event message)")


@pytest.mark.parametrize(
    "document",
    [
        "",
        "{",
        "not json",
        "null",
        "[]",
        "42",
        '"a string"',
        '{"ErrorMessage": 5, "ErrorEvents": {"Message": "x"}}',
        '{"ErrorMessage": "", "ErrorEvents": [null, 1, []]}',
        '{"ErrorEvents": "x", "ErrorMessage": null}',
        "[" * 100000 + "]" * 100000,  # deep nesting
        "\ud800",
        b"\xff\xfe\x00",
    ],
    ids=lambda document: repr(document)[:40],
)
def test_malformed_documents_never_raise(document: str | bytes) -> None:
    error = error_from_hresult(0x80370105, document=document, operation="Pause")
    assert isinstance(error, InvalidState)
    assert error.message == "The requested operation is not valid in the current state"
    assert error.error_events == []
    text = str(error)
    assert "\n" not in text
    assert text.startswith("HCS_E_INVALID_STATE (0x80370105) in Pause")


def test_event_without_string_message_is_kept_but_not_printed() -> None:
    error = error_from_hresult(0x80370105, document='{"ErrorEvents": [{"Message": 3}]}')
    assert error.error_events == [{"Message": 3}]
    assert str(error) == (
        "HCS_E_INVALID_STATE (0x80370105): "
        "The requested operation is not valid in the current state"
    )


@given(st.text() | st.binary())
def test_any_document_text_never_raises(document: str | bytes) -> None:
    error = error_from_hresult(0x8037010D, document=document)
    assert isinstance(error, InvalidJson)
    assert "\n" not in str(error)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_any_json_value_as_document_never_raises(value: object) -> None:
    document = json.dumps({"ErrorMessage": value, "ErrorEvents": value, "Error": value})
    error = error_from_hresult(0x8037010D, document=document)
    assert isinstance(error.error_events, list)
    assert "\n" not in str(error)


def test_unsupported_on_this_host() -> None:
    error = UnsupportedOnThisHost(
        export="HcsWaitForProcessExit", release="Windows 10 2104 / Windows Server 2022"
    )
    assert error.hresult == 0x8007007F
    assert error.name == "ERROR_PROC_NOT_FOUND"
    assert error.export == "HcsWaitForProcessExit"
    assert error.release == "Windows 10 2104 / Windows Server 2022"
    assert str(error) == (
        "ERROR_PROC_NOT_FOUND (0x8007007F): HcsWaitForProcessExit is not available on this "
        "host; it needs Windows 10 2104 / Windows Server 2022 or later"
    )
    from_hr = error_from_hresult(0x8007007F)
    assert isinstance(from_hr, UnsupportedOnThisHost)
    assert from_hr.export is None
    assert from_hr.release is None


def test_hcs_not_available_is_an_import_error() -> None:
    assert issubclass(errors.HcsNotAvailableError, ImportError)
    assert not issubclass(errors.HcsNotAvailableError, HcsError)


def test_invalid_argument_is_a_value_error() -> None:
    assert issubclass(errors.InvalidArgumentError, ValueError)


def test_every_class_is_an_hcs_error() -> None:
    for cls in {*CLASSES.values()}:
        assert issubclass(cls, HcsError)
        assert cls.__doc__


@pytest.mark.parametrize("value", [0x80370105, 0x8007007F, 0x80071234])
def test_pickle_round_trip(value: int) -> None:
    error = error_from_hresult(
        value, document=json.dumps(RESULT_ERROR), operation="Start", system_id="a", process_id=3
    )
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert clone.__dict__ == error.__dict__
    assert str(clone) == str(error)
    assert clone.args == error.args


def test_repr() -> None:
    assert repr(error_from_hresult(0x8037010E)) == (
        "SystemNotFound(HCS_E_SYSTEM_NOT_FOUND, 0x8037010E, "
        "'No compute system with that id exists')"
    )


def test_errors_module_is_light() -> None:
    code = (
        "import sys, aiohcs, aiohcs.errors; "
        "heavy = [m for m in ('cffi', '_cffi_backend', 'pydantic', 'anyio', 'asyncio', 'trio', "
        "'aiohcs._hcs', 'aiohcs._native', 'aiohcs.schema', 'json') if m in sys.modules]; "
        "print(heavy)"
    )
    assert run_python("-c", code).stdout.strip() == "[]"


# ---------------------------------------------------------------- one HRESULT format (issue 11)


@given(st.integers(min_value=-(2**31), max_value=2**32 - 1))
def test_hresult_value_prints_like_errors(value: int) -> None:
    hr = errors.HResultValue(value)
    assert hr == value & 0xFFFFFFFF
    assert str(hr) == repr(hr) == f"{hr}" == f"0x{value & 0xFFFFFFFF:08X}"
    assert f"{hr:d}" == str(value & 0xFFFFFFFF)
    assert hr.signed == (value if value < 2**31 else value - 2**32)
    assert hr.name == errors.hresult_name(value)
    assert pickle.loads(pickle.dumps(hr)) == hr


def test_every_hresult_prints_the_same_way() -> None:
    """Errors, exit events and exit statuses all show 0x8037xxxx, never a signed number."""
    from aiohcs.events import SystemExited, decode_event
    from aiohcs.schema import ResultError, SystemExitStatus

    signed = -2143878906  # HCS_E_UNEXPECTED_EXIT as HCS writes it in JSON
    error = error_from_hresult(signed)
    event = decode_event(1, json.dumps({"Status": signed, "ExitType": "UnexpectedExit"}))
    assert isinstance(event, SystemExited)
    assert event.status is not None
    status = SystemExitStatus.model_validate({"Status": signed, "ExitType": "UnexpectedExit"})
    assert event.status == status
    assert "0x80370106" in str(error)
    for hr in (error.hresult, event.hresult, status.status, event.status.status):
        assert hr == 0x80370106
        assert f"{hr}" == "0x80370106"
    assert "status=0x80370106" in str(status)
    assert "status=0x80370106" in repr(status)
    assert str(signed) not in str(status)
    # The documents keep HCS's signed spelling.
    assert status.to_dict()["Status"] == signed
    assert json.loads(status.to_json())["Status"] == signed
    assert ResultError(error=0x80370106).to_dict() == {"Error": signed}
