"""A hypothesis state machine: random lifecycle calls against a model of the HCS state machine."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from helpers import INVALID, MEMORY_UPDATE, STOPPED, VM
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aiohcs import errors, testing
from aiohcs.events import SystemExited
from aiohcs.system import ComputeSystem

#: A transition HCS contract §7.2 marks (U), unspecified: HCS may do the call (and then the
#: state stays what it was) or refuse it with any HcsError; both are accepted.
UNSPECIFIED = "(U)"

# (state, call) -> new state, the error class HCS must raise, or UNSPECIFIED. "Stopped" =
# exited. A pair not listed must raise some HcsError (every call on an exited system).
# The (U) transitions, which accept any HcsError (or success that changes nothing):
# modify of a Created or a Paused system, crash of a Paused system.
MODEL: dict[tuple[str, str], Any] = {
    ("Created", "start"): "Running",
    ("Created", "pause"): INVALID,
    ("Created", "resume"): INVALID,
    ("Created", "save"): INVALID,
    ("Created", "shutdown"): INVALID,
    ("Created", "terminate"): "Stopped",
    ("Running", "start"): INVALID,
    ("Running", "pause"): "Paused",
    ("Running", "resume"): INVALID,
    ("Running", "save"): INVALID,
    ("Running", "shutdown"): "Stopped",
    ("Running", "terminate"): "Stopped",
    ("Paused", "start"): INVALID,
    ("Paused", "pause"): INVALID,
    ("Paused", "resume"): "Running",
    ("Paused", "save"): "Paused",
    ("Paused", "shutdown"): INVALID,
    ("Paused", "terminate"): "Stopped",
    ("Stopped", "shutdown"): STOPPED,
    ("Stopped", "terminate"): STOPPED,
    ("Created", "crash"): INVALID,
    ("Running", "crash"): "Stopped",  # (crash events first, then the exit)
    ("Paused", "crash"): UNSPECIFIED,
    ("Created", "modify"): UNSPECIFIED,
    ("Running", "modify"): "Running",
    ("Paused", "modify"): UNSPECIFIED,
}


class LifecycleMachine(RuleBasedStateMachine):
    """Drives one VM through random calls; each call's outcome must match MODEL."""

    backend = "asyncio"

    def __init__(self) -> None:
        super().__init__()
        testing.reset()
        self._portal_cm = start_blocking_portal(self.backend)
        self.portal: BlockingPortal = self._portal_cm.__enter__()
        self.tmp = Path(tempfile.mkdtemp(prefix="aiohcs-stateful-"))
        self.state = "Created"
        self.saves = 0
        self.system: ComputeSystem = self.run(ComputeSystem.create, "sm", VM)
        self.stream = self.portal.call(self.system.events)

    def run(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return self.portal.call(fn, *args)

    def call(self, name: str) -> None:
        expected = MODEL.get((self.state, name), errors.HcsError)

        async def do() -> None:
            with anyio.fail_after(10):
                if name == "save":
                    self.saves += 1
                    await self.system.save(self.tmp / f"{self.saves}.vmrs")
                elif name == "modify":
                    await self.system.modify(MEMORY_UPDATE)
                else:
                    await getattr(self.system, name)()
                if expected == "Stopped":
                    await self.system.wait()

        if expected == UNSPECIFIED:
            refused: errors.HcsError | None = None
            try:
                self.run(do)
            except errors.HcsError as exc:
                refused = exc
            assert refused is None or refused.system_id == "sm"
        elif isinstance(expected, str):
            self.run(do)
            self.state = expected
        else:
            with pytest.raises(expected) as info:
                self.run(do)
            assert info.value.system_id == "sm"

    @rule(name=st.sampled_from(["start", "pause", "resume", "save", "shutdown", "terminate"]))
    def lifecycle(self, name: str) -> None:
        self.call(name)

    @rule()
    def crash(self) -> None:
        self.call("crash")

    @rule()
    def modify(self) -> None:
        self.call("modify")

    @rule()
    def reopen(self) -> None:
        """Close the handle and open a new one (the system outlives its handles)."""
        self.run(self.system.aclose)
        if self.state == "Stopped":
            with pytest.raises(errors.SystemNotFound):
                self.run(ComputeSystem.open, "sm")
            self.system = self.run(ComputeSystem.create, "sm", VM)
            self.state = "Created"
        else:
            self.system = self.run(ComputeSystem.open, "sm")
        self.stream = self.portal.call(self.system.events)

    @precondition(lambda self: self.state != "Stopped")
    @rule(event_type=st.sampled_from([4, 6, 0x1234]))
    def raise_event(self, event_type: int) -> None:
        testing.raise_system_event("sm", event_type)

    @invariant()
    def state_matches_the_model(self) -> None:
        props = self.run(self.system.properties)
        assert props.state == self.state

    @invariant()
    def exit_seen_exactly_when_stopped(self) -> None:
        exited = isinstance(self.system.exit_event, SystemExited)
        assert exited == (self.state == "Stopped")

    def teardown(self) -> None:
        try:

            async def finish() -> list[Any]:
                if self.system.exit_event is None and not self.system.closed:
                    await self.system.terminate()
                with anyio.fail_after(10):
                    events = [e async for e in self.stream] if not self.system.closed else []
                await self.system.aclose()
                return events

            events = self.run(finish)
            if events:
                assert isinstance(events[-1], SystemExited)

            async def settle() -> None:
                with anyio.fail_after(10):
                    while (now := testing.counts()).operations or now.system_handles:
                        await anyio.sleep(0.005)

            self.run(settle)
        finally:
            self._portal_cm.__exit__(None, None, None)
            shutil.rmtree(self.tmp, ignore_errors=True)
        leaks = {
            k: v for k, v in dataclasses.asdict(testing.counts()).items() if v and k != "systems"
        }
        assert not leaks


class TrioLifecycleMachine(LifecycleMachine):
    backend = "trio"


_settings = settings(
    max_examples=30,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycleAsyncio = LifecycleMachine.TestCase
TestLifecycleAsyncio.settings = _settings
TestLifecycleTrio = TrioLifecycleMachine.TestCase
TestLifecycleTrio.settings = _settings
