"""The documents hcsim returns parse into the schema models, member for member.

hcsim is the project's emulator of computecore; its outputs (Properties, SystemExitStatus,
CrashReport) must be documents of the published schema: each validates, round-trips
unchanged, and uses no member the schema does not define.
"""

from typing import Any

import pytest

from aiohcs.events import SystemCrashInitiated, SystemCrashReport, SystemExited
from aiohcs.schema import (
    CrashReport,
    HcsModel,
    NotificationType,
    OpenEnum,
    Properties,
    State,
    SystemExitStatus,
    SystemType,
)
from aiohcs.schema import builders as b
from aiohcs.system import ComputeSystem as System

pytestmark = pytest.mark.anyio


def _unknown_members(model: HcsModel, path: str = "$") -> list[str]:
    """JSON paths of members (and enum values) the schema does not define."""
    found = [f"{path}.{key}" for key in (model.model_extra or {})]
    for name in type(model).model_fields:
        found += _unknown_values(getattr(model, name), f"{path}.{name}")
    return found


def _unknown_values(value: Any, path: str) -> list[str]:
    if isinstance(value, HcsModel):
        return _unknown_members(value, path)
    if isinstance(value, OpenEnum):
        return [] if value.known else [f"{path}={value.value!r}"]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _unknown_values(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _unknown_values(v, f"{path}.{k}")]
    return []


def _parse(model: type[HcsModel], doc: Any) -> Any:
    if isinstance(doc, HcsModel):  # a result the SDK already parsed: it re-validates strictly
        assert isinstance(doc, model), doc
        doc = doc.to_dict()
    assert isinstance(doc, dict), doc
    parsed = model.model_validate(doc)
    assert parsed.to_dict() == {k: v for k, v in doc.items() if v is not None}
    assert _unknown_members(parsed) == []
    return parsed


async def test_properties_of_a_created_and_running_vm() -> None:
    async with await System.create("schema-props", b.empty_vm(owner="schema-tests")) as vm:
        props = _parse(Properties, await vm.properties())
        assert props.id == "schema-props"
        assert props.state is State.CREATED
        assert props.system_type is SystemType.VIRTUAL_MACHINE
        assert props.owner == "schema-tests"
        await vm.start()
        running = _parse(Properties, await vm.properties("Statistics", "Memory"))
        assert running.state is State.RUNNING
        await vm.terminate()
        await vm.wait()


async def test_exit_status_of_terminate() -> None:
    async with await System.create("schema-exit", b.empty_vm()) as vm:
        await vm.start()
        await vm.terminate()
        status = _parse(SystemExitStatus, await vm.wait())
        assert status.exit_type is NotificationType.FORCED_EXIT
        assert status.status == 0


async def test_crash_reports() -> None:
    async with await System.create("schema-crash", b.empty_vm()) as vm:
        await vm.start()
        events = []
        async with vm.events() as stream:
            await vm.crash()
            async for event in stream:
                events.append(event)
        reports = [e for e in events if isinstance(e, SystemCrashInitiated | SystemCrashReport)]
        assert reports
        for event in reports:
            report = _parse(CrashReport, event.data)
            assert report.crash_parameters
        exits = [e for e in events if isinstance(e, SystemExited)]
        assert len(exits) == 1
        _parse(SystemExitStatus, exits[0].data)
