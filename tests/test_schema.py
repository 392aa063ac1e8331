"""aiohcs.schema: naming, aliases, open enums, range checks and the schema quirks.

The quirks are those of HCS contract §11 (plus the ones found while generating);
each has a test below named ``test_quirk_*``.
"""

import json
from typing import Any

import pytest
from helpers import gen_schema_module, run_python
from pydantic import ValidationError

import aiohcs.schema as schema
from aiohcs.schema import (
    Attachment,
    CacheMode,
    ComputeSystem,
    Container,
    Devices,
    HcsModel,
    Layer,
    ModifySettingRequest,
    OpenEnum,
    OsType,
    ProcessModifyRequest,
    ProcessParameters,
    ProcessSignal,
    ProcessStatus,
    Properties,
    ResultError,
    SignalProcessOptions,
    State,
    SystemExitStatus,
    SystemType,
    _names,
    _since,
)


def _models() -> list[type[HcsModel]]:
    return [schema.get_type(n) for n in _names.MODELS]


def _enums() -> list[type[OpenEnum]]:
    return [schema.get_type(n) for n in _names.ENUMS]


# --------------------------------------------------------------------------- names, aliases


def test_every_schema_type_is_exported() -> None:
    assert len(_names.MODELS) + len(_names.ENUMS) == len(_since.TYPES)
    for name in _since.TYPES:
        cls = getattr(schema, name)
        assert issubclass(cls, HcsModel | OpenEnum)
        assert name in schema.__all__
    assert set(_names.ENUMS).isdisjoint(_names.MODELS)


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError, match="NoSuchType"):
        _ = schema.NoSuchType
    with pytest.raises(KeyError):
        schema.get_type("NoSuchType")


def test_construct_by_snake_case_or_json_name() -> None:
    by_attr = ProcessParameters(command_line="cmd /c exit 3", create_std_out_pipe=True)
    # JSON names work at run time; type checkers know only the snake_case keywords.
    by_alias = ProcessParameters(CommandLine="cmd /c exit 3", CreateStdOutPipe=True)  # type: ignore[call-arg]
    parsed = ProcessParameters.model_validate(
        {"CommandLine": "cmd /c exit 3", "CreateStdOutPipe": 1}
    )
    assert by_attr == by_alias == parsed
    assert by_attr.command_line == "cmd /c exit 3"
    assert by_alias.to_dict() == {"CommandLine": "cmd /c exit 3", "CreateStdOutPipe": True}
    assert json.loads(by_alias.to_json()) == by_alias.to_dict()


def test_every_field_has_its_json_name_as_alias() -> None:
    for model in _models():
        members = _since.MEMBERS[model.schema_name()]
        aliases = {f.serialization_alias for f in model.model_fields.values()}
        assert aliases == set(members), model
        for name, f in model.model_fields.items():
            assert f.validation_alias == f.serialization_alias
            assert name.isidentifier(), (model, name)
            assert name == name.lower(), (model, name)
            assert f.default is None
            assert not f.is_required()


def test_all_models_start_empty() -> None:
    # No definition has "required": every model can be built with no member at all.
    for model in _models():
        assert model().to_dict() == {}
        assert model.model_validate({}).to_json() == "{}"


def test_coerce_accepts_model_mapping_and_json() -> None:
    doc = {"ProcessId": 7, "Exited": True, "ExitCode": 42, "LastWaitResult": 0}
    model = ProcessStatus.coerce(doc)
    assert ProcessStatus.coerce(model) is model
    assert ProcessStatus.coerce(json.dumps(doc)) == model
    assert ProcessStatus.coerce(json.dumps(doc).encode()) == model
    assert ProcessStatus.from_json(json.dumps(doc)).exit_code == 42
    with pytest.raises(TypeError, match="ProcessStatus"):
        ProcessStatus.coerce(42)
    with pytest.raises(ValidationError):
        ProcessStatus.coerce('{"ProcessId": "seven"}')


def test_repr_shows_set_members_only() -> None:
    status = ProcessStatus.model_validate({"ProcessId": 7, "Exited": False, "Vendor": 1})
    assert repr(status) == "ProcessStatus(process_id=7, exited=False, Vendor=1)"


def test_json_schema_of_a_document() -> None:
    js = ComputeSystem.model_json_schema(by_alias=True)
    assert "Owner" in js["properties"]
    assert "VirtualMachine" in js["properties"]


def test_assignment_is_validated() -> None:
    status = ProcessStatus(process_id=1)
    status.exit_code = 5
    with pytest.raises(ValidationError, match="exit_code"):
        status.exit_code = -1


# --------------------------------------------------------------------------- release history


def test_since_and_until() -> None:
    assert ComputeSystem.since() == "1809"
    assert ComputeSystem.since("Owner") == ComputeSystem.since("owner") == "1809"
    assert ComputeSystem.until() is None
    assert ComputeSystem.since("NotInSchema") is None
    assert ComputeSystem.until("NotInSchema") is None
    assert schema.AttributionRecord.since() == "2104"
    assert schema.PropertyQuery_2.until() == "2004"
    assert SystemType.since("Host") == "1809"
    assert SystemType.until("Host") == "2004"
    assert SystemType.until("Container") is None
    assert SystemType.since("Martian") is None
    assert State.since() == "1809"


def test_unsupported_in_lists_members_a_release_lacks() -> None:
    doc = ComputeSystem.model_validate(
        {
            "SchemaVersion": {"Major": 2, "Minor": 1},
            "VirtualMachine": {
                "Chipset": {"LinuxKernelDirect": {"KernelFilePath": "/k"}},
                "Devices": {"VirtioSerial": {}, "Scsi": {"0": {"Attachments": {"0": {}}}}},
                "Vendor": {"X": 1},
            },
        }
    )
    assert doc.unsupported_in("1809") == [
        "VirtualMachine.Chipset.LinuxKernelDirect: 1903..21H2",
        "VirtualMachine.Devices.VirtioSerial: 1903..21H2",
    ]
    assert doc.unsupported_in("1903") == []
    from aiohcs.schema import builders

    assert builders.empty_vm().unsupported_in("1809") == []
    newer = Properties(
        system_type=SystemType.HOST, ic_heartbeat_status=schema.IntegrationComponentStatus()
    )
    assert newer.unsupported_in("21H2") == [
        "SystemType='Host': 1809..2004",
        "ICHeartbeatStatus: 2004..2004",
    ]
    assert newer.unsupported_in("2004") == []
    attachment = schema.Attachment(support_encrypted_files=True)
    assert attachment.unsupported_in("2104") == ["SupportEncryptedFiles: 21H2..21H2"]
    with pytest.raises(ValueError, match="unknown release"):
        doc.unsupported_in("1607")


def test_user_subclass_keeps_history() -> None:
    class MyParams(ProcessParameters):
        pass

    assert MyParams.schema_name() == "ProcessParameters"
    assert MyParams.since("EmulateConsole") == "1809"


def test_since_tables_name_the_sources() -> None:
    assert _since.RELEASES == schema.RELEASES == ("1809", "1903", "2004", "2104", "21H2")
    assert set(_since.SOURCES) == set(_since.RELEASES)
    assert all(len(h) == 64 for h in _since.SOURCES.values())


# --------------------------------------------------------------------------- open enums


def test_enum_known_values() -> None:
    assert State("Running") is State.RUNNING
    running: str = State.RUNNING
    assert running == "Running"
    assert State.RUNNING.known
    assert str(State.PAUSED) == "Paused"
    assert f"{State.PAUSED}" == "Paused"
    assert Properties.model_validate({"State": "Stopped"}).state is State.STOPPED


def test_enum_unknown_value_is_kept() -> None:
    props = Properties.model_validate({"State": "Migrating", "SystemType": "Host"})
    assert props.state == "Migrating"
    assert isinstance(props.state, State)
    assert props.state is not None
    assert not props.state.known
    assert props.to_dict() == {"State": "Migrating", "SystemType": "Host"}
    assert props.system_type is SystemType.HOST  # a value only older releases list


def test_enum_rejects_non_strings() -> None:
    with pytest.raises(ValidationError, match="State"):
        Properties.model_validate({"State": 3})


def test_enum_pickles() -> None:
    import pickle

    assert pickle.loads(pickle.dumps(State.RUNNING)) is State.RUNNING
    assert pickle.loads(pickle.dumps(State("Odd"))) == "Odd"


# --------------------------------------------------------------------------- range checks


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (
            {"VirtualMachine": {"ComputeTopology": {"Memory": {"SizeInMB": -1}}}},
            "VirtualMachine.ComputeTopology.Memory.SizeInMB",
        ),
        (
            {"VirtualMachine": {"ComputeTopology": {"Processor": {"Count": 2**32}}}},
            "VirtualMachine.ComputeTopology.Processor.Count",
        ),
        (
            {"VirtualMachine": {"Chipset": {"Uefi": {"BootThis": {"DiskNumber": 65536}}}}},
            "VirtualMachine.Chipset.Uefi.BootThis.DiskNumber",
        ),
        (
            {"VirtualMachine": {"ComputeTopology": {"Memory": {"SizeInMB": 2**64}}}},
            "VirtualMachine.ComputeTopology.Memory.SizeInMB",
        ),
        (
            {"SchemaVersion": {"Major": -2, "Minor": 1}},
            "SchemaVersion.Major",
        ),
        (
            {"Container": {"Processor": {"Maximum": 2**63}}},
            "Container.Processor.Maximum",
        ),
    ],
)
def test_range_check_names_json_path(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        ComputeSystem.model_validate(doc)
    errors = info.value.errors()
    assert len(errors) == 1
    assert ".".join(str(p) for p in errors[0]["loc"]) == path
    assert path in str(info.value)


def test_range_check_inside_maps_and_lists() -> None:
    doc = {"ConsoleSize": [24, 70000]}
    with pytest.raises(ValidationError) as info:
        ProcessParameters.model_validate(doc)
    assert info.value.errors()[0]["loc"] == ("ConsoleSize", 1)
    scsi = {"VirtualMachine": {"Devices": {"VirtualPMem": {"MaximumCount": 2**32}}}}
    with pytest.raises(
        ValidationError, match=r"VirtualMachine\.Devices\.VirtualPMem\.MaximumCount"
    ):
        ComputeSystem.model_validate(scsi)


def test_range_limits_are_inclusive() -> None:
    top = {"Memory": {"SizeInMB": 2**64 - 1}, "Processor": {"Count": 2**32 - 1}}
    cs = ComputeSystem.model_validate({"VirtualMachine": {"ComputeTopology": top}})
    assert cs.to_dict()["VirtualMachine"]["ComputeTopology"] == top
    # An HRESULT member takes the signed and the unsigned spelling and holds the unsigned.
    assert ResultError(error=-(2**31)).error == 2**31
    assert ResultError(error=2**32 - 1).to_dict() == {"Error": -1}
    for outside in (2**32, -(2**31) - 1):
        with pytest.raises(ValidationError, match="Error"):
            ResultError(error=outside)


# --------------------------------------------------------------------------- quirks (11.1, 11.2, 8)


def test_quirk_release_comes_from_file_name_not_info_version() -> None:
    # Every file says info.version "2.4"; the generator keys releases by file name.
    gen_schema = gen_schema_module()
    assert gen_schema.release_key("1809") < gen_schema.release_key("2104")
    assert gen_schema.release_key("2104") < gen_schema.release_key("21H2")
    assert sorted(["21H2", "2004", "1809", "2104", "1903"], key=gen_schema.release_key) == list(
        _since.RELEASES
    )


def test_quirk_enum_refs_with_sibling_type_are_resolved() -> None:
    # {"type": "string", "$ref": "#/definitions/State"}: the $ref wins.
    assert Properties.model_fields["state"].annotation == State | None
    assert Layer.model_fields["cache"].annotation == CacheMode | None


def test_quirk_cache_mode_and_os_type_empty_spellings() -> None:
    for spelling in ("", "Unspecified", "Unknown"):
        layer = Layer.model_validate({"Cache": spelling})
        assert layer.cache is CacheMode.UNSPECIFIED
        assert layer.to_dict() == {"Cache": ""}  # emitted as the swagger spells it
    for spelling in ("", "Unknown", "Unspecified"):
        props = Properties.model_validate({"RuntimeOsType": spelling})
        assert props.runtime_os_type is OsType.UNKNOWN
        assert props.to_dict() == {"RuntimeOsType": ""}
    # Enums with a real "Unknown" member keep it.
    assert State("Unknown") is State.UNKNOWN
    assert State.UNKNOWN.value == "Unknown"


@pytest.mark.parametrize(
    ("model", "member"),
    [
        (ComputeSystem, "HostedSystem"),
        (ModifySettingRequest, "Settings"),
        (ModifySettingRequest, "GuestRequest"),
        (schema.ModificationRequest, "Settings"),
        (schema.GuestModifySettingRequest, "Settings"),
        (schema.HostProcessorModificationRequest, "OperationDetails"),
        (schema.ContainerCredentialGuardOperationRequest, "OperationDetails"),
        (schema.GuestConnectionInfo, "GuestDefinedCapabilities"),
        (schema.PropertyResponse, "Response"),
    ],
)
@pytest.mark.parametrize("value", [3, "text", True, [1, "a", None], {"Deep": {"x": None}}, 1.5])
def test_quirk_any_members_accept_scalars(model: type[HcsModel], member: str, value: Any) -> None:
    # Typed {"type": "object"} in the swagger, but HCS puts any JSON value there.
    doc = {member: value}
    parsed = model.model_validate(doc)
    assert parsed.to_dict() == doc
    assert model.from_json(json.dumps(doc)).to_dict() == doc


def test_quirk_signal_takes_names_and_numbers() -> None:
    assert SignalProcessOptions(signal=ProcessSignal.CTRL_C).to_dict() == {"Signal": "CtrlC"}
    assert SignalProcessOptions.model_validate({"Signal": 15}).to_dict() == {"Signal": 15}
    assert SignalProcessOptions.from_json('{"Signal": 9}').signal == 9
    assert SignalProcessOptions.model_validate({"Signal": "CtrlBreak"}).signal is (
        ProcessSignal.CTRL_BREAK
    )
    with pytest.raises(ValidationError):
        SignalProcessOptions.model_validate({"Signal": 2**40})


def test_quirk_map_keys_are_strings() -> None:
    doc = {
        "ComPorts": {"0": {"NamedPipe": r"\\.\pipe\com1"}},
        "Scsi": {"0": {"Attachments": {"0": {"Path": "a.vhdx", "Type": "VirtualDisk"}}}},
    }
    devices = Devices.model_validate(doc)
    assert devices.scsi is not None
    assert list(devices.scsi) == ["0"]
    attachments = devices.scsi["0"].attachments
    assert attachments is not None
    assert isinstance(attachments["0"], Attachment)
    assert devices.to_dict() == doc


def test_quirk_empty_marker_objects_serialize_as_empty_objects() -> None:
    devices = Devices(battery=schema.Battery(), keyboard=schema.Keyboard(), mouse=schema.Mouse())
    assert devices.to_dict() == {"Battery": {}, "Keyboard": {}, "Mouse": {}}
    services = schema.Services(
        heartbeat=schema.Heartbeat(), shutdown=schema.Shutdown(), timesync=schema.Timesync()
    )
    assert services.to_dict() == {"Heartbeat": {}, "Shutdown": {}, "Timesync": {}}
    assert schema.InjectNonMaskableInterrupt().to_json() == "{}"


def test_quirk_namespace_types_use_lowercase_keys() -> None:
    doc = {
        "job": {"terminationpolicy": "KillOnHandleClose", "threadimpersonation": True},
        "filesystem": {"isolation": "hard", "nesting": "inner"},
    }
    ns = schema.Namespace.model_validate(doc)
    assert ns.job is not None
    assert ns.job.terminationpolicy == "KillOnHandleClose"
    assert ns.to_dict() == doc
    instance = schema.DeviceInstance(id="PCI\\VEN_1234", location_path="PCIROOT(0)")
    assert instance.to_dict() == {"id": "PCI\\VEN_1234", "location_path": "PCIROOT(0)"}


def test_quirk_guid_fields_check_the_pattern() -> None:
    guid = "6b0c8e6a-0d4f-4a4b-9f5e-1f2a3b4c5d6e"
    assert Properties(runtime_id=guid).runtime_id == guid
    import uuid

    assert Properties(runtime_id=uuid.UUID(guid)).runtime_id == guid  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="RuntimeId"):
        Properties.model_validate({"RuntimeId": "not-a-guid"})


def test_quirk_string_formats_are_kept_verbatim() -> None:
    # date-time, byte/binary (base64) and mac-address members are strings; HCS writes 100 ns
    # timestamps (7 fractional digits) that a datetime would truncate, so the text is kept.
    stats = {"Timestamp": "2024-05-01T10:20:30.1234567Z", "ContainerStartTime": "x"}
    assert schema.Statistics.model_validate(stats).to_dict() == stats
    value = {"BinaryValue": "AAEC/w==", "Type": "Binary"}
    assert schema.RegistryValue.model_validate(value).to_dict() == value
    nic = {"MacAddress": "00-15-5D-01-02-03"}
    assert schema.NetworkAdapter.model_validate(nic).to_dict() == nic
    assert schema.Statistics.model_fields["timestamp"].annotation == str | None


def test_quirk_renamed_types_newest_definition_wins() -> None:
    # 2104 renamed Memory -> Container_Memory etc.; the field takes the newest type while the
    # old types stay available for older documents.
    assert Container.model_fields["memory"].annotation == schema.Container_Memory | None
    assert Container.model_fields["processor"].annotation == schema.Container_Processor | None
    assert schema.Topology.model_fields["memory"].annotation == (
        schema.VirtualMachine_Memory | None
    )
    assert schema.Memory.until() == "2004"
    assert schema.Container_Memory.since() == "2104"
    assert schema.System_PropertyQuery.since() == "2104"
    assert schema.PropertyType_2.until("GuestMemory") == "2004"
    # The JSON did not change with the rename: member history follows the predecessor.
    assert _since.PREDECESSORS["VirtualMachine_Memory"] == ("Memory_2",)
    assert schema.VirtualMachine_Memory.since() == "2104"
    assert schema.VirtualMachine_Memory.since("SizeInMB") == "1809"
    assert schema.VirtualMachine_Memory.since("BackingPageSize") == "1903"
    assert schema.VirtualMachine_Processor.since("CpuGroup") == "2104"
    assert schema.ModifyPropertyType.since("CpuGroup") == "1809"


def test_quirk_members_removed_later_are_kept_with_their_history() -> None:
    proc = schema.VirtualMachine_Processor(enable_perfmon_arch_pmu=True)
    assert proc.to_dict() == {"EnablePerfmonArchPmu": True}
    assert schema.VirtualMachine_Processor.since("EnablePerfmonArchPmu") == "2104"
    assert schema.VirtualMachine_Processor.until("EnablePerfmonArchPmu") == "2104"
    assert SystemExitStatus.since("ExitType") == "1903"
    assert SystemExitStatus.since("Attribution") == "2104"
    assert schema.Attachment.since("SupportEncryptedFiles") == "21H2"
    assert schema.Devices.until("KernelIntegration") == "2004"


def test_quirk_nvram_variables_generic_type_name() -> None:
    # <= 2004 types NvramVendor.Variables as "CaseInsensitiveStringMap<...NvramVariable>".
    vendor = schema.NvramVendor.model_validate({"Variables": {"Boot0001": {"Data": [1, 2]}}})
    assert vendor.variables is not None
    assert isinstance(vendor.variables["Boot0001"], schema.NvramVariable)


def test_quirk_console_size_is_height_then_width() -> None:
    params = ProcessParameters(console_size=[25, 80])
    assert params.to_dict() == {"ConsoleSize": [25, 80]}
    resize = ProcessModifyRequest.model_validate(
        {"Operation": "ConsoleSize", "ConsoleSize": {"Height": 25, "Width": 80}}
    )
    assert resize.console_size is not None
    assert resize.console_size.width == 80


def test_quirk_result_error_is_signed() -> None:
    doc = {
        "Error": -2143878898,
        "ErrorMessage": "The system is in an invalid state.",
        "ErrorEvents": [{"Message": "m", "EventId": 1, "Flags": 0, "Data": [{"Type": "UInt32"}]}],
    }
    err = ResultError.model_validate(doc)
    assert err.error is not None
    assert err.error & 0xFFFFFFFF == 0x8037010E
    assert err.to_dict() == doc


def test_quirk_extension_members_are_kept() -> None:
    doc = {
        "CreateStdInPipe": True,
        "OciProcess": {"args": ["/bin/sh", "-c", "true"], "cwd": "/", "env": None},
    }
    params = ProcessParameters.model_validate(doc)
    assert params.model_extra == {"OciProcess": doc["OciProcess"]}
    assert params.to_dict() == doc
    assert json.loads(params.to_json()) == doc
    # Unknown members deep inside a document survive too.
    cs = {"VirtualMachine": {"Devices": {"Fancy": 1}, "Chipset": {"Uefi": {"Extra": [1]}}}}
    assert ComputeSystem.model_validate(cs).to_dict() == cs


def test_quirk_docs_only_types_are_not_invented() -> None:
    # The documentation's 2.5/2.6 processor types are in no swagger file.
    assert "VmProcessorRequirements" not in _since.TYPES
    assert not hasattr(schema, "ProcessorFeatureSet")


# --------------------------------------------------------------------------- import cost


def _run(code: str) -> str:
    return run_python("-c", code).stdout.strip()


def test_import_aiohcs_loads_no_models_and_no_pydantic() -> None:
    code = (
        "import sys, aiohcs\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pydantic', 'aiohcs.schema'))))"
    )
    assert _run(code) == "[]"


def test_import_aiohcs_schema_is_lazy() -> None:
    code = (
        "import json, sys, aiohcs.schema as s\n"
        "def loaded():\n"
        "    p = 'aiohcs.schema._types.'\n"
        "    return sorted(m[len(p):] for m in sys.modules if m.startswith(p))\n"
        "out = {'heavy': 'pydantic' in sys.modules or 'aiohcs.schema._enums' in sys.modules}\n"
        "s.SystemExitStatus\n"
        "out['exit_status'] = loaded()\n"
        "s.ComputeSystem\n"
        "out['compute_system'] = len(loaded())\n"
        "out['all'] = 'aiohcs.schema._models' in sys.modules\n"
        "print(json.dumps(out))"
    )
    out = json.loads(_run(code))
    assert out["heavy"] is False
    # SystemExitStatus needs only its attribution records, not the other ~190 types.
    assert out["exit_status"] == [
        "attribution_record",
        "guest_crash",
        "inject_non_maskable_interrupt",
        "operation_failure",
        "system_exit",
        "system_exit_status",
        "triple_fault",
        "virtual_device_failure",
        "worker_exit",
    ]
    assert 90 < out["compute_system"] < 150
    assert out["all"] is False


# --------------------------------------------------------------------------- docstrings


@pytest.mark.parametrize(
    "name",
    [
        "ComputeSystem",
        "Properties",
        "SystemExitStatus",
        "ProcessParameters",
        "ProcessStatus",
        "CrashReport",
        "ResultError",
        "ServiceProperties",
        "SaveOptions",
        "PauseOptions",
        "ShutdownOptions",
        "ModifySettingRequest",
        "SignalProcessOptions",
        "ProcessModifyRequest",
    ],
)
def test_main_types_have_own_docstrings(name: str) -> None:
    doc = schema.get_type(name).__doc__
    assert doc
    assert not doc.startswith("HCS type")
    # (That they are never the swagger's description sentences is a property of the
    # generator: test_schema_generate.py::test_swagger_descriptions_are_not_copied.)
