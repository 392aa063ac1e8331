"""The ``aiohcs`` package itself: light import, version, lazily loaded API names."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from collections.abc import Iterator

import pytest
from helpers import run_python

import aiohcs
from aiohcs import errors


def test_version() -> None:
    assert aiohcs.__version__ == "0.1.0"


def test_errors_are_exported() -> None:
    for name in aiohcs.__all__:
        assert hasattr(aiohcs, name)
    assert aiohcs.HcsError is errors.HcsError
    assert aiohcs.SystemNotFound is errors.SystemNotFound
    assert aiohcs.UnsupportedOnThisHost is errors.UnsupportedOnThisHost
    assert aiohcs.HcsNotAvailableError is errors.HcsNotAvailableError


def test_import_is_light() -> None:
    code = (
        "import sys, aiohcs; "
        "print(sorted(m for m in ('cffi', '_cffi_backend', 'aiohcs._hcs', 'aiohcs._native', "
        "'pydantic', 'anyio', 'asyncio', 'trio', 'aiohcs.schema', 'aiohcs.system') "
        "if m in sys.modules))"
    )
    out = run_python("-X", "importtime", "-c", code)
    assert out.stdout.strip() == "[]"
    # -X importtime: "import time: self [us] | cumulative | name"; aiohcs's own total.
    cumulative = next(
        int(line.split("|")[1])
        for line in out.stderr.splitlines()
        if line.rstrip().endswith("| aiohcs")
    )
    assert cumulative < 50_000, f"import aiohcs took {cumulative} us"


def test_unknown_attribute_is_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        _ = aiohcs.no_such_thing
    assert not hasattr(aiohcs, "_private_name")


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """Stand-in API modules: aiohcs.service exists, aiohcs.process does not."""
    service = types.ModuleType("aiohcs.service")
    service.__dict__["service_properties"] = object()
    service.__dict__["extra_public"] = object()
    service.__dict__["__all__"] = ["service_properties", "extra_public"]
    monkeypatch.setitem(sys.modules, "aiohcs.service", service)
    monkeypatch.setitem(sys.modules, "aiohcs.process", None)  # import raises ModuleNotFoundError
    for name in ("service_properties", "modify_service_settings", "extra_public"):
        monkeypatch.delitem(aiohcs.__dict__, name, raising=False)
    yield service
    for name in ("service_properties", "extra_public"):
        aiohcs.__dict__.pop(name, None)


def test_lazy_name_comes_from_its_module(fake_api: types.ModuleType) -> None:
    assert aiohcs.service_properties is fake_api.service_properties
    assert "service_properties" in dir(aiohcs)


def test_lazy_table_is_exact(fake_api: types.ModuleType) -> None:
    # A public name of an API module is not an aiohcs attribute unless the table lists it.
    with pytest.raises(AttributeError, match="extra_public"):
        _ = aiohcs.extra_public
    assert "extra_public" not in dir(aiohcs)


def test_every_name_in_dir_resolves(monkeypatch: pytest.MonkeyPatch) -> None:
    # Resolved names are cached in the module: drop them again afterwards.
    for name in aiohcs._LAZY:
        monkeypatch.delitem(aiohcs.__dict__, name, raising=False)
    names = dir(aiohcs)
    for name in ("Process", "CompletedProcess", "ProcessFailed", "PIPE", "DEVNULL", "testing"):
        assert name in names
    for name in names:
        assert getattr(aiohcs, name) is not None or name == "__spec__", name
    for name, module_name in aiohcs._LAZY.items():
        assert getattr(aiohcs, name) is getattr(importlib.import_module(module_name), name)
    assert aiohcs.testing is importlib.import_module("aiohcs.testing")
    assert aiohcs.CompletedProcess is subprocess.CompletedProcess


def test_lazy_name_missing_from_its_module_is_attribute_error(
    fake_api: types.ModuleType,
) -> None:
    with pytest.raises(AttributeError, match="modify_service_settings"):
        _ = aiohcs.modify_service_settings


def test_lazy_name_whose_module_is_missing_is_attribute_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "aiohcs.events", None)
    monkeypatch.delitem(aiohcs.__dict__, "EventType", raising=False)
    with pytest.raises(AttributeError, match="EventType"):
        _ = aiohcs.EventType


def test_lazy_lookup_does_not_hide_a_broken_module(monkeypatch: pytest.MonkeyPatch) -> None:
    # A module that exists but fails to import must surface its own error.
    broken = types.ModuleType("aiohcs.operation")

    def fail(name: str) -> object:
        raise ModuleNotFoundError("No module named 'dependency'", name="dependency")

    monkeypatch.setitem(sys.modules, "aiohcs.operation", None)
    monkeypatch.setattr(
        importlib,
        "import_module",
        lambda name: fail(name) if name == "aiohcs.operation" else broken,
    )
    monkeypatch.delitem(aiohcs.__dict__, "OperationType", raising=False)
    with pytest.raises(ModuleNotFoundError, match="dependency"):
        _ = aiohcs.OperationType


EVENT_CLASSES = (
    "Event",
    "SystemExited",
    "SystemCrashInitiated",
    "SystemCrashReport",
    "SystemGuestConnectionClosed",
    "SystemRdpEnhancedModeStateChanged",
    "SystemSiloJobCreated",
    "ProcessExited",
    "ServiceDisconnectedEvent",
    "UnknownEvent",
    "VmLifecycleEvent",
    "LiveMigrationEvent",
    "OperationProgress",
)


def test_event_classes_are_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiohcs import events

    for name in EVENT_CLASSES:
        monkeypatch.delitem(aiohcs.__dict__, name, raising=False)
        assert name in dir(aiohcs)
        assert getattr(aiohcs, name) is getattr(events, name)
        assert issubclass(getattr(aiohcs, name), events.Event)
    # Every event class of aiohcs.events is reachable from aiohcs under its own name.
    classes = {
        value
        for value in vars(events).values()
        if isinstance(value, type) and issubclass(value, events.Event)
    }
    exported = {getattr(aiohcs, name) for name in EVENT_CLASSES}
    assert classes - exported <= {events._CrashEvent}  # (a private base)


def test_service_disconnected_names_cannot_be_confused() -> None:
    """``aiohcs.ServiceDisconnected`` is the exception; the event has its own name."""
    from aiohcs import events

    assert aiohcs.ServiceDisconnected is errors.ServiceDisconnected
    assert issubclass(aiohcs.ServiceDisconnected, Exception)
    event = events.decode_event(events.EventType.SERVICE_DISCONNECT, None)
    assert isinstance(event, aiohcs.ServiceDisconnectedEvent)
    assert not isinstance(event, aiohcs.ServiceDisconnected)
    assert type(event).__name__ == "ServiceDisconnectedEvent"
    assert repr(event) == "ServiceDisconnectedEvent(type=0x2000000)"
    # The former alias of the event class is gone: the name means the exception only.
    assert not hasattr(events, "ServiceDisconnected")
    # No lazily loaded name shadows an eagerly exported one (the exceptions).
    assert not set(aiohcs._LAZY) & set(aiohcs.__all__)
    assert "ServiceDisconnected" not in aiohcs._LAZY
