"""Every document hcsim emits is one of the schema, with no member outside it (#14 item 9).

The generated models keep unknown members (ARCHITECTURE.md invariant 8); here they are
read strictly: each document is parsed into its schema type and any member a model does
not declare, at any depth, is a failure. The only extras are the answers to hcsshim's
own property types, which no published schema describes: ``SystemGUID`` and
``MappedVirtualDiskControllers`` (hcsim/README.md, "Real clients").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CONTAINER, LINUX, guest

from aiohcs import errors, schema
from aiohcs.events import ProcessExited, SystemCrashInitiated, SystemCrashReport, SystemExited
from aiohcs.schema._base import HcsModel
from aiohcs.service import modify_service_settings, service_properties
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio

#: System property types of the published schemas (each adds its member, if any).
SCHEMA_TYPES = (
    "Memory",
    "Statistics",
    "ProcessList",
    "TerminateOnLastHandleClosed",
    "SharedMemoryRegion",
    "GuestConnection",
    "GuestMemory",
    "ICHeartbeatStatus",
)
#: hcsshim's own property types and the members they add outside every schema.
HCSSHIM_EXTRAS = {"SystemGUID": "SystemGUID", "MappedVirtualDisk": "MappedVirtualDiskControllers"}
#: A CPU group id.
GROUP = "1b9a3b4c-2d5e-4f60-8a7b-9c0d1e2f3a4b"


def extras(value: Any, path: str = "$") -> Iterator[str]:
    """The JSON paths of members no model declares, anywhere in value."""
    if isinstance(value, HcsModel):
        for key in value.model_extra or {}:
            yield f"{path}.{key}"
        for name, info in type(value).model_fields.items():
            yield from extras(getattr(value, name), f"{path}.{info.serialization_alias or name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from extras(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from extras(item, f"{path}.{key}")


def strict(type_name: str, data: Any) -> list[str]:
    """The extras of data read as the schema type type_name."""
    return list(extras(schema.get_type(type_name).model_validate(data)))


def test_the_check_finds_an_extra_member() -> None:
    """Negative control: a member outside the schema is found, also nested."""
    doc = {"Affinity": {"LogicalProcessorCount": 1, "LogicalProcessors": [0], "Mask": 1}}
    assert strict("CpuGroupConfig", {"GroupId": GROUP, **doc}) == ["$.Affinity.Mask"]
    assert strict("ResultError", {"Error": -1, "ErrorEvents": [{"Nope": 1}]}) == [
        "$.ErrorEvents[0].Nope"
    ]


@pytest.mark.parametrize("config", [LINUX, CONTAINER], ids=["vm", "container"])
async def test_system_properties_and_events(config: dict[str, Any]) -> None:
    async with await ComputeSystem.create("s1", config) as system:
        events = system.events()
        await system.start()
        async with await system.open_process(guest("sleep 30")) as proc:
            props = await system.properties(*SCHEMA_TYPES)
            assert list(extras(props)) == []
            assert props.process_list
            # hcsshim's types add exactly their documented extra member
            for ptype, member in HCSSHIM_EXTRAS.items():
                assert list(extras(await system.properties(ptype))) == [f"$.{member}"]
            listed = await system.properties()
            assert list(extras(listed)) == []
            status = await proc.properties()
            assert strict("ProcessStatus", status.to_dict()) == []
            await proc.terminate()
            await proc.wait()
            assert strict("ProcessStatus", (await proc.properties()).to_dict()) == []
        await system.crash() if "VirtualMachine" in config else await system.terminate()
        async for event in events:
            if isinstance(event, (SystemCrashInitiated, SystemCrashReport)):
                assert strict("CrashReport", event.data) == [], event
            elif isinstance(event, (SystemExited, ProcessExited)):
                payload = "SystemExitStatus" if isinstance(event, SystemExited) else "ProcessStatus"
                assert strict(payload, event.data) == [], event
        assert list(extras(await system.properties())) == []


async def test_result_errors(tmp_path: Path) -> None:
    """Failure documents of create, start, process and service calls."""
    failures: list[errors.HcsError] = []
    gone = str(tmp_path / "gone.vhdx")
    bad_vm = {**LINUX, "VirtualMachine": {**LINUX["VirtualMachine"], "GuestState": {}}}
    bad_vm["VirtualMachine"]["GuestState"] = {"GuestStateFilePath": gone}
    with pytest.raises(errors.HcsError) as caught:
        await ComputeSystem.create("bad", bad_vm)
    failures.append(caught.value)
    async with await ComputeSystem.create("s1", LINUX) as system:
        with pytest.raises(errors.InvalidState) as state:
            await system.pause()
        failures.append(state.value)
        await system.start()
        with pytest.raises(errors.HcsError) as missing:
            await system.run_process(["/no/such/program"])
        failures.append(missing.value)
        await system.terminate()
    with pytest.raises(errors.HcsError) as service:
        await modify_service_settings(
            {
                "PropertyType": "CpuGroup",
                "Settings": {"Operation": "DeleteGroup", "OperationDetails": {"GroupId": "x"}},
            }
        )
    failures.append(service.value)
    for failure in failures:
        assert failure.document is not None, failure
        assert strict("ResultError", failure.result_error) == [], failure
        assert failure.error_events, failure


async def test_service_properties_after_a_cpu_group_is_created() -> None:
    await modify_service_settings(
        {
            "PropertyType": "CpuGroup",
            "Settings": {
                "Operation": "CreateGroup",
                "OperationDetails": {
                    "GroupId": GROUP,
                    "LogicalProcessorCount": 2,
                    "LogicalProcessors": [0, 1],
                },
            },
        }
    )
    answers = await service_properties(
        "Basic", "CpuGroup", "ProcessorTopology", "ContainerCredentialGuard", "QoSCapabilities"
    )
    assert answers.properties is not None
    types = (
        "BasicInformation",
        "CpuGroupConfigurations",
        "ProcessorTopology",
        "ContainerCredentialGuardSystemInfo",
        "QoSCapabilities",
    )
    for type_name, answer in zip(types, answers.properties, strict=True):
        assert strict(type_name, answer) == [], type_name
    cpu_groups = answers.properties[1]
    assert cpu_groups["CpuGroups"][0]["Affinity"] == {
        "LogicalProcessorCount": 2,
        "LogicalProcessors": [0, 1],
    }
