"""Compute systems on hcsim: the lifecycle, the state machine, events, errors and close."""

from __future__ import annotations

import contextlib
import gc
import json
import warnings
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import (
    CONTAINER,
    INVALID,
    MEMORY_UPDATE,
    SCHEMA,
    STOPPED,
    VM,
    destroy,
    settle,
    state_of,
    terminate_and_close,
)

from aiohcs import errors, schema, testing
from aiohcs._bridge import current_bridge
from aiohcs.access import grant_vm_access
from aiohcs.events import (
    ServiceDisconnectedEvent,
    SystemCrashInitiated,
    SystemCrashReport,
    SystemExited,
    SystemGuestConnectionClosed,
    SystemRdpEnhancedModeStateChanged,
    SystemSiloJobCreated,
    UnknownEvent,
)
from aiohcs.operation import HandleClosedError
from aiohcs.system import ComputeSystem, enumerate_systems

pytestmark = pytest.mark.anyio


def vm_config(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(json.dumps(VM))
    config.update(extra)
    return config


# ---------------------------------------------------------------- create / open / close


async def test_create_reports_created_and_closes() -> None:
    async with await ComputeSystem.create("c1", CONTAINER) as system:
        assert system.id == "c1"
        props = await system.properties()
        assert isinstance(props, schema.Properties)
        assert props.id == "c1"
        assert props.state == "Created"
        assert props.system_type == "Container"
        assert props.owner == "aiohcs-tests"
        await system.terminate()
        await system.wait()
    assert system.closed
    assert testing.counts().system_handles == 0


async def test_config_as_json_text_and_model() -> None:
    async with await ComputeSystem.create("json", json.dumps(CONTAINER)) as a:
        assert await state_of(a) == "Created"
        await a.terminate()
    async with await ComputeSystem.create("model", schema.ComputeSystem(**CONTAINER)) as b:
        assert await state_of(b) == "Created"
        await b.terminate()


async def test_create_duplicate_id_and_bad_json() -> None:
    async with await ComputeSystem.create("dup", CONTAINER) as system:
        with pytest.raises(errors.SystemAlreadyExists) as info:
            await ComputeSystem.create("dup", CONTAINER)
        assert info.value.operation == "Create"
        assert info.value.system_id == "dup"
        await system.terminate()
    with pytest.raises(errors.InvalidDocumentError) as bad:  # caught before HCS
        await ComputeSystem.create("bad", "{not json")
    assert bad.value.type_name == "ComputeSystem"
    with pytest.raises(errors.HcsError):
        await ComputeSystem.create("neither", {"SchemaVersion": SCHEMA})


async def test_open_existing_and_missing() -> None:
    first = await ComputeSystem.create("o1", CONTAINER)
    async with first, await ComputeSystem.open("o1") as second:
        assert await state_of(second) == "Created"
        # Events fan out to every handle.
        stream = second.events()
        await first.terminate()
        with anyio.fail_after(5):
            got = [e async for e in stream]
        assert isinstance(got[-1], SystemExited)
        assert isinstance(await first.wait(), schema.SystemExitStatus)
    with pytest.raises(errors.SystemNotFound) as info:
        await ComputeSystem.open("missing")
    assert info.value.system_id == "missing"
    assert info.value.operation == "Open"


async def test_close_is_idempotent_and_fails_new_calls_fast(vm: ComputeSystem) -> None:
    await vm.aclose()
    await vm.aclose()
    for call in (vm.start, vm.pause, vm.resume, vm.terminate, vm.properties):
        with pytest.raises(HandleClosedError) as info:
            await call()
        assert info.value.system_id == "vm1"
    with pytest.raises(HandleClosedError):
        await vm.wait()
    # events() is a call like the others: on a closed handle it fails at once (it used to
    # return a stream that silently yielded nothing).
    with pytest.raises(HandleClosedError) as info:
        vm.events()
    assert info.value.system_id == "vm1"
    await destroy("vm1")


async def test_concurrent_closes_all_return_after_the_handle_is_closed() -> None:
    """A second aclose() waits for the first one's close (shared with processes)."""
    testing.delay("HcsCloseComputeSystem", sync_ms=100)  # the close itself takes a while
    system = await ComputeSystem.create("twice", CONTAINER)
    handles = testing.counts().system_handles
    closed_at: list[int] = []

    async def close() -> None:
        await system.aclose()
        closed_at.append(testing.counts().system_handles)

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(close)
    finally:
        testing.delay("HcsCloseComputeSystem", sync_ms=0)
    assert closed_at == [handles - 1] * 3
    assert system.closed
    await destroy("twice")


async def test_close_while_operations_and_iterators_are_in_flight(vm: ComputeSystem) -> None:
    testing.delay("HcsStartComputeSystem", completion_ms=300)
    results: dict[str, Any] = {}

    async def start() -> None:
        try:
            await vm.start()
        except HandleClosedError as exc:
            results["start"] = exc

    async def iterate() -> None:
        results["events"] = [e async for e in vm.events()]

    async def wait() -> None:
        try:
            await vm.wait()
        except HandleClosedError as exc:
            results["wait"] = exc

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(start)
            tg.start_soon(iterate)
            tg.start_soon(wait)
            await anyio.sleep(0.05)
            await vm.aclose()
    assert isinstance(results["start"], HandleClosedError)
    assert isinstance(results["wait"], HandleClosedError)
    assert results["events"] == []
    # The abandoned start still completes in hcsim; its operation is closed by the bridge.
    await settle()
    await destroy("vm1")


async def test_should_terminate_on_last_handle_closed() -> None:
    config = dict(CONTAINER, ShouldTerminateOnLastHandleClosed=True)
    system = await ComputeSystem.create("tolhc", config)
    await system.start()
    await system.aclose()
    with anyio.fail_after(5):
        while True:
            try:
                again = await ComputeSystem.open("tolhc")
            except errors.SystemNotFound:
                break
            await again.aclose()
            await anyio.sleep(0.01)


async def test_unclosed_system_warns_and_closes_its_handle() -> None:
    holder = [await ComputeSystem.create("leak", CONTAINER)]
    assert testing.counts().system_handles == 1
    with pytest.warns(ResourceWarning, match="never closed"):
        holder.clear()  # the last reference: the finalizer runs now
    gc.collect()
    with anyio.fail_after(5):  # the finalizer hands the close to a worker thread
        while testing.counts().system_handles:
            await anyio.sleep(0.005)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        await destroy("leak")


# ---------------------------------------------------------------- lifecycle


async def test_full_lifecycle(vm: ComputeSystem) -> None:
    assert await state_of(vm) == "Created"
    await vm.start()
    assert await state_of(vm) == "Running"
    await vm.pause()
    assert await state_of(vm) == "Paused"
    await vm.resume()
    assert await state_of(vm) == "Running"
    await vm.modify(
        {
            "ResourcePath": "VirtualMachine/ComputeTopology/Memory/SizeInMB",
            "RequestType": "Update",
            "Settings": 2048,
        }
    )
    props = await vm.properties("Statistics", "Memory")
    assert props.statistics is not None
    await vm.terminate()
    status = await vm.wait()
    assert isinstance(status, schema.SystemExitStatus)
    assert status.exit_type == "ForcedExit"
    props = await vm.properties()
    assert props.state == "Stopped" or props.stopped is True
    assert isinstance(vm.exit_event, SystemExited)


async def test_shutdown_is_graceful(vm: ComputeSystem) -> None:
    await vm.start()
    stream = vm.events()
    await vm.shutdown()
    with anyio.fail_after(5):
        events = [e async for e in stream]
    exited = events[-1]
    assert isinstance(exited, SystemExited)
    assert exited.exit_type == "GracefulExit"
    assert await vm.wait() == exited.status


# state → call → expected outcome, for every lifecycle call in every state: a state name
# (the call succeeds and leads there), an exception class (exact where the HCS contract states
# it; any HcsError for the cells it marks (I)/(U)), or SAME (success that changes nothing,
# or any HcsError: the SDK must tolerate both).
ANY_ERROR = errors.HcsError
SAME = "same"
TRANSITIONS: dict[str, dict[str, Any]] = {
    "Created": {
        "start": "Running",
        "pause": INVALID,
        "resume": INVALID,
        "save": INVALID,
        "shutdown": INVALID,
        "terminate": "Exited",
        "crash": ANY_ERROR,
        "modify": SAME,
        "properties": "Created",
    },
    "Running": {
        "start": INVALID,
        "pause": "Paused",
        "resume": INVALID,
        "save": INVALID,
        "shutdown": "Exited",
        "terminate": "Exited",
        "crash": "Exited",
        "modify": "Running",
        "properties": "Running",
    },
    "Paused": {
        "start": INVALID,
        "pause": INVALID,
        "resume": "Running",
        "save": "Paused",
        "shutdown": INVALID,
        "terminate": "Exited",
        "crash": ANY_ERROR,
        "modify": SAME,
        "properties": "Paused",
    },
    "SavedAsTemplate": {
        "start": INVALID,
        "pause": ANY_ERROR,
        "resume": INVALID,
        "save": ANY_ERROR,
        "shutdown": ANY_ERROR,
        "terminate": "Exited",
        "crash": ANY_ERROR,
        "modify": ANY_ERROR,
        "properties": "SavedAsTemplate",
    },
    "Exited": {
        "start": ANY_ERROR,
        "pause": ANY_ERROR,
        "resume": ANY_ERROR,
        "save": ANY_ERROR,
        "shutdown": STOPPED,
        "terminate": STOPPED,
        "crash": ANY_ERROR,
        "modify": ANY_ERROR,
        "properties": "Exited",
    },
}


async def bring_to(system: ComputeSystem, state: str, tmp: Path) -> None:
    if state == "Created":
        return
    await system.start()
    if state in ("Paused", "SavedAsTemplate"):
        await system.pause()
    if state == "SavedAsTemplate":
        await system.save({"SaveType": "AsTemplate"})
    if state == "Exited":
        await system.terminate()
        await system.wait()


async def invoke(system: ComputeSystem, call: str, tmp: Path) -> None:
    if call == "save":
        await system.save(tmp / "state.vmrs")
    elif call == "modify":
        await system.modify(MEMORY_UPDATE)
    else:
        await getattr(system, call)()


@pytest.mark.parametrize(
    ("state", "call"),
    [(state, call) for state, calls in TRANSITIONS.items() for call in calls],
)
async def test_transition(state: str, call: str, tmp_path: Path) -> None:
    expected = TRANSITIONS[state][call]
    shown = "Stopped" if state == "Exited" else state
    system = await ComputeSystem.create("t1", VM)
    try:
        await bring_to(system, state, tmp_path)
        assert (await state_of(system)) == shown
        if expected == SAME:
            with contextlib.suppress(errors.HcsError):
                await invoke(system, call, tmp_path)
            assert await state_of(system) == shown
        elif isinstance(expected, str):
            await invoke(system, call, tmp_path)
            if expected == "Exited":
                with anyio.fail_after(5):
                    await system.wait()
                assert await state_of(system) == "Stopped"
            else:
                assert await state_of(system) == expected
        else:
            with pytest.raises(expected) as info:
                await invoke(system, call, tmp_path)
            assert info.value.system_id == "t1"
            assert info.value.operation is not None
            assert await state_of(system) == shown
    finally:
        await terminate_and_close(system)


async def test_save_terminate_restore(tmp_path: Path) -> None:
    path = tmp_path / "vm.vmrs"
    async with await ComputeSystem.create("saved", VM) as original:
        await original.start()
        await original.pause(
            {"SuspensionLevel": "Suspend", "HostedNotification": {"Reason": "Save"}}
        )
        await original.save(path)
        assert path.exists()
        assert await state_of(original) == "Paused"
        await original.terminate()
        await original.wait()
    await grant_vm_access("restored", path)  # the new VM must be granted its saved state
    restored = await ComputeSystem.restore("restored", VM, path)
    async with restored:
        assert await state_of(restored) == "Running"
        await restored.terminate()


async def test_restore_from_a_missing_file_fails_and_cleans_up(tmp_path: Path) -> None:
    with pytest.raises(errors.HcsError) as info:
        await ComputeSystem.restore("r", VM, tmp_path / "missing.vmrs")
    assert info.value.operation == "Start"
    with pytest.raises(errors.SystemNotFound):
        await ComputeSystem.open("r")


async def test_save_options_and_path_like(tmp_path: Path) -> None:
    async with await ComputeSystem.create("s", VM) as system:
        await system.start()
        await system.pause()
        await system.save({"SaveType": "ToFile", "SaveStateFilePath": str(tmp_path / "a.vmrs")})
        await system.save(str(tmp_path / "b.vmrs"))
        assert (tmp_path / "a.vmrs").exists()
        assert (tmp_path / "b.vmrs").exists()
        await system.terminate()


async def test_template_and_clone() -> None:
    async with await ComputeSystem.create("template", VM) as template:
        await template.start()
        await template.pause({"HostedNotification": {"Reason": "Template"}})
        await template.save({"SaveType": "AsTemplate"})
        assert await state_of(template) == "SavedAsTemplate"
        with pytest.raises(errors.InvalidState):
            await template.start()
        clone_config = vm_config()
        clone_config["VirtualMachine"]["RestoreState"] = {"TemplateSystemId": "template"}
        async with await ComputeSystem.create("clone", clone_config) as clone:
            await clone.start()
            assert await state_of(clone) == "Running"
            await clone.terminate()
        await template.terminate()


async def test_enumerate_with_filters() -> None:
    a = await ComputeSystem.create("enum-a", CONTAINER)
    b = await ComputeSystem.create("enum-b", dict(VM, Owner="other"))
    try:
        everything = await enumerate_systems()
        assert {p.id for p in everything} >= {"enum-a", "enum-b"}
        only_b = await enumerate_systems({"Owners": ["other"]})
        assert [p.id for p in only_b] == ["enum-b"]
        vms = await enumerate_systems({"Types": ["VirtualMachine"]})
        assert [p.id for p in vms] == ["enum-b"]
        assert await enumerate_systems({"Ids": ["nope"]}) == []
    finally:
        await terminate_and_close(a)
        await terminate_and_close(b)
    assert {p.id for p in await enumerate_systems()} == set()


async def test_namespaces() -> None:
    async with await ComputeSystem.create("ns1", CONTAINER, namespace="tenant-a") as system:
        assert system.namespace == "tenant-a"
        with pytest.raises(errors.SystemNotFound):
            await ComputeSystem.open("ns1")
        async with await ComputeSystem.open("ns1", namespace="tenant-a") as again:
            assert await state_of(again) == "Created"
        listed = await enumerate_systems(namespace="tenant-a")
        assert [p.id for p in listed] == ["ns1"]
        assert await enumerate_systems() == []
        # The same id may exist in another namespace.
        async with await ComputeSystem.create("ns1", CONTAINER) as other:
            await other.terminate()
        await system.terminate()


async def test_create_without_the_namespace_export_registers_after_create() -> None:
    with testing.hide_export("HcsCreateComputeSystemInNamespace"):
        with pytest.raises(errors.UnsupportedOnThisHost):
            await ComputeSystem.create("x", CONTAINER, namespace="n")
        async with await ComputeSystem.create("fallback", CONTAINER) as system:
            stream = system.events()
            await system.start()
            testing.raise_system_event("fallback", 6, None)
            await system.terminate()
            with anyio.fail_after(5):
                got = [type(e) async for e in stream]
            assert got == [SystemGuestConnectionClosed, SystemExited]


async def test_create_falls_back_when_the_host_refuses_a_null_namespace() -> None:
    testing.fail_next("HcsCreateComputeSystemInNamespace", errors.HResult.E_INVALIDARG)  # sync
    async with await ComputeSystem.create("nullns", CONTAINER) as system:
        stream = system.events()
        await system.start()
        await system.terminate()
        with anyio.fail_after(5):
            assert isinstance([e async for e in stream][-1], SystemExited)
    # A named namespace is never retried without it.
    testing.fail_next("HcsCreateComputeSystemInNamespace", errors.HResult.E_INVALIDARG)
    with pytest.raises(errors.HcsError):
        await ComputeSystem.create("nullns", CONTAINER, namespace="n")


async def test_close_waits_for_calls_running_in_worker_threads() -> None:
    """Starting calls run in threads on a slow host; close must not race them."""
    testing.delay("*", sync_ms=2)
    system = await ComputeSystem.create("busy", VM)
    outcome: list[BaseException | None] = []

    async def start() -> None:
        try:
            await system.start()
            outcome.append(None)
        except HandleClosedError as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(3):  # the first calls teach aiohcs that the host is slow
            await system.properties()
        current_bridge().start_cost.skipped = 0  # (the next call is not one of the periodic probes)
        tg.start_soon(start)
        with anyio.fail_after(5):
            while system._ops.busy == 0:  # until start() is inside HCS, in a worker thread
                await anyio.sleep(0)
        assert system._ops.busy == 1
        await system.aclose()
        assert system._ops.busy == 0
    assert len(outcome) == 1
    testing.delay("*", sync_ms=0)
    await settle()
    await destroy("busy")


# ---------------------------------------------------------------- events


async def test_crash_events(vm: ComputeSystem) -> None:
    await vm.start()
    stream = vm.events()
    await vm.crash()
    with anyio.fail_after(5):
        events = [e async for e in stream]
    assert [type(e) for e in events] == [SystemCrashInitiated, SystemCrashReport, SystemExited]
    assert isinstance(events[0], SystemCrashInitiated)
    report = events[0].report
    assert isinstance(report, schema.CrashReport)
    assert report.crash_parameters is not None
    # The raw payload is kept next to the model.
    assert events[0].payload["CrashParameters"] == report.crash_parameters
    assert events[0].payload_model().crash_parameters == report.crash_parameters
    assert str(events[-1].payload_model().exit_type) == "UnexpectedExit"
    with pytest.raises(TypeError):
        SystemGuestConnectionClosed(6).payload_model()
    assert events[-1].exit_type == "UnexpectedExit"  # type: ignore[attr-defined]


async def test_emulated_guest_crash_and_guest_shutdown() -> None:
    async with await ComputeSystem.create("g1", VM) as a, await ComputeSystem.create("g2", VM) as b:
        await a.start()
        await b.start()
        sa, sb = a.events(), b.events()
        testing.crash_system("g1")
        testing.guest_shutdown("g2")
        with anyio.fail_after(5):
            ea = [e async for e in sa]
            eb = [e async for e in sb]
        assert isinstance(ea[-1], SystemExited)
        # hcsim's crash is a worker crash (no guest crash report), unlike crash().
        assert ea[-1].exit_type == "UnexpectedExit"
        assert ea[-1].hresult == 0x80370106
        assert isinstance(eb[-1], SystemExited)
        assert eb[-1].exit_type == "GracefulExit"
        initiators = [r.get("SystemExit", {}).get("Initiator") for r in eb[-1].attribution]
        assert "GuestOS" in initiators


async def test_every_event_kind_is_typed(vm: ComputeSystem) -> None:
    await vm.start()
    stream = vm.events()
    payload = '{"Custom": [1, 2]}'
    # (0x8000_0002 is HcsEventGroupVmLifecycle: delivered only with its event option)
    for event_type in (4, 5, 6, 0x4000_0001, 0x2000_0002):
        testing.raise_system_event("vm1", event_type, payload)
    await vm.terminate()
    with anyio.fail_after(5):
        events = [e async for e in stream]
    assert [type(e) for e in events] == [
        SystemRdpEnhancedModeStateChanged,
        SystemSiloJobCreated,
        SystemGuestConnectionClosed,
        UnknownEvent,
        UnknownEvent,
        SystemExited,
    ]
    assert events[3].type == 0x4000_0001
    assert events[4].type == 0x2000_0002
    assert all(e.raw == payload and e.data == {"Custom": [1, 2]} for e in events[:5])


async def test_several_iterators_each_get_every_event_from_their_subscription(
    vm: ComputeSystem,
) -> None:
    await vm.start()
    first = vm.events()
    testing.raise_system_event("vm1", 6, '{"n": 1}')
    await anyio.sleep(0.05)
    second = vm.events()
    testing.raise_system_event("vm1", 6, '{"n": 2}')
    await vm.terminate()
    with anyio.fail_after(5):
        a = [e async for e in first]
        b = [e async for e in second]
    assert [e.data.get("n") if isinstance(e.data, dict) else None for e in a[:2]] == [1, 2]
    assert [e.data.get("n") for e in b[:1]] == [2]
    assert isinstance(a[-1], SystemExited)
    assert b[-1] == a[-1]
    # After the exit a new iterator yields the exit and ends.
    assert [e async for e in vm.events()] == [a[-1]]


async def test_wait_without_iterator(vm: ComputeSystem) -> None:
    await vm.start()
    async with anyio.create_task_group() as tg:
        results: list[Any] = []

        async def waiter() -> None:
            results.append(await vm.wait())

        for _ in range(3):
            tg.start_soon(waiter)
        await anyio.sleep(0.02)
        await vm.terminate()
    assert len(results) == 3
    assert all(r.exit_type == "ForcedExit" for r in results)


@pytest.mark.hcsim_leaves_systems  # a disconnected service cannot terminate anything
async def test_service_disconnect(vm: ComputeSystem) -> None:
    await vm.start()
    stream = vm.events()
    testing.delay("HcsPauseComputeSystem", completion_ms=2000)
    async with anyio.create_task_group() as tg:
        outcome: dict[str, BaseException] = {}

        async def pause() -> None:
            try:
                await vm.pause()
            except errors.HcsError as exc:
                outcome["pause"] = exc

        tg.start_soon(pause)
        await anyio.sleep(0.05)
        testing.disconnect_service()
    with anyio.fail_after(5):
        events = [e async for e in stream]
    assert isinstance(events[-1], ServiceDisconnectedEvent)
    assert isinstance(outcome["pause"], errors.ServiceDisconnected)
    assert outcome["pause"].system_id == "vm1"
    with pytest.raises(errors.ServiceDisconnected):
        await vm.wait()


async def test_events_survive_a_busy_loop(vm: ComputeSystem) -> None:
    """Events raised while the loop is blocked are queued in C and delivered afterwards."""
    await vm.start()
    stream = vm.events()
    import time

    for i in range(200):
        testing.raise_system_event("vm1", 6, f'{{"i": {i}}}')
    time.sleep(0.2)  # the loop is blocked: HCS threads still never wait for Python
    await vm.terminate()
    with anyio.fail_after(5):
        events = [e async for e in stream]
    assert [e.data["i"] for e in events[:-1]] == list(range(200))


# ---------------------------------------------------------------- scale


async def test_many_systems_at_once() -> None:
    n = 100
    systems: list[ComputeSystem] = []

    async def one(i: int) -> None:
        system = await ComputeSystem.create(f"many-{i}", CONTAINER if i % 2 else VM)
        systems.append(system)
        await system.start()
        await system.pause()
        await system.resume()
        await system.terminate()
        await system.wait()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(one, i)
    assert len(systems) == n
    async with anyio.create_task_group() as tg:
        for system in systems:
            tg.start_soon(system.aclose)
    assert testing.counts().system_handles == 0


async def test_loop_keeps_responding_with_slow_synchronous_calls() -> None:
    """With every HCS call taking 1 ms synchronously, the loop still answers quickly.

    Create/open/close run in worker threads; starting calls move there too once the host
    is seen to be slow, so 100 systems going through their life cycle at once (some 800
    HCS calls, 0.8 s of synchronous latency in all) never stall the loop for long.
    """
    testing.delay("*", sync_ms=1)
    lags: list[float] = []
    done = anyio.Event()

    async def ticker() -> None:
        while not done.is_set():
            t0 = anyio.current_time()
            await anyio.sleep(0.001)
            lags.append(anyio.current_time() - t0 - 0.001)

    async def work(i: int) -> None:
        async with await ComputeSystem.create(f"lag-{i}", CONTAINER) as system:
            await system.start()
            await system.properties()
            await system.terminate()
            await system.wait()

    t0 = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        async with anyio.create_task_group() as workers:
            for i in range(100):
                workers.start_soon(work, i)
        done.set()
    elapsed = anyio.current_time() - t0
    lags.sort()
    median = lags[len(lags) // 2]
    # Had the calls run on the loop, it would have been blocked for ~0.8 s in one piece.
    assert elapsed < 0.6, f"{elapsed:.2f} s"
    assert lags[-1] < 0.1, f"loop lag max {lags[-1] * 1000:.1f} ms"
    assert median < 0.02, f"loop lag median {median * 1000:.1f} ms"


async def test_an_exit_found_by_the_properties_check_has_status_0(
    vm: ComputeSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The synthesized exit (before the callback was registered) cannot know the status."""
    await vm.start()
    properties = ComputeSystem.properties

    async def exited_unexpectedly(self: ComputeSystem, *types: str, query: Any = None) -> Any:
        props = await properties(self, *types, query=query)
        document = {**props.to_dict(), "State": "Stopped", "Stopped": True}
        return schema.Properties.coerce({**document, "ExitType": "UnexpectedExit"})

    monkeypatch.setattr(ComputeSystem, "properties", exited_unexpectedly)
    async with await ComputeSystem.open("vm1") as other:
        monkeypatch.undo()
        event = other.exit_event
        assert isinstance(event, SystemExited)
        assert event.synthesized
        assert event.timestamp_ns is None
        assert event.data == {"Status": 0, "ExitType": "UnexpectedExit"}
        assert event.hresult == 0  # (a crash would have a failure HRESULT: unknown here)
        assert event.attribution == []
        status = await other.wait()
        assert status.status == 0
        assert str(status.exit_type) == "UnexpectedExit"
        assert [e async for e in other.events()] == [event]
    # What the documentation says of it.
    for doc in (ComputeSystem.wait.__doc__, SystemExited.__doc__):
        assert doc is not None
        assert "synthesized" in doc
        assert "0" in doc
        assert "whatever really happened" in doc


async def test_close_without_a_bridge_thread_still_closes_the_handle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If no native thread can be started, the close is made by a Python worker instead."""
    from aiohcs import testing
    from aiohcs._bridge import _calls

    system = await ComputeSystem.create("nothread", CONTAINER)
    await system.terminate()
    assert testing.counts().system_handles == 1

    def no_thread(*args: Any, **kwargs: Any) -> None:
        raise errors.NoThreadError("no thread")

    monkeypatch.setattr(_calls, "submit_native", no_thread)
    await system.aclose()
    with anyio.fail_after(5):
        while testing.counts().system_handles:
            await anyio.sleep(0.01)
