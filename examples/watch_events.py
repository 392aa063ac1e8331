"""Follow every compute system and print its exit, and crashes, as they happen.

    python examples/watch_events.py              # watch until Ctrl-C
    python examples/watch_events.py --simulate   # on hcsim: make some systems and break them

HCS has no "all systems" event feed, so the watcher lists the systems every ``--interval``
seconds and subscribes to each new one (a system that comes and goes between two looks is
not seen). Each subscription ends with the system's exit.

On Linux and macOS the emulator runs inside this process and starts empty, so there is
nothing to watch unless ``--simulate`` creates systems here: it starts four, then
terminates one, shuts one down, crashes one's guest and kills another's worker process
through hcsim's fault injection.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import anyio
from anyio.abc import TaskGroup

from aiohcs import errors, testing
from aiohcs.events import Event, SystemCrashInitiated, SystemCrashReport, SystemExited
from aiohcs.system import ComputeSystem, enumerate_systems

NORMAL_EXITS = ("GracefulExit", "ForcedExit")


class Watcher:
    """Subscribes to every system it finds and prints the events that matter."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.crashed: set[str] = set()
        self.exited = 0
        self.all_exited = anyio.Event()

    def report(self, system_id: str, event: Event) -> None:
        """Print exits and crashes; ignore the rest."""
        if isinstance(event, SystemExited):
            attribution = event.attribution[0] if event.attribution else {}
            cause = next(iter(attribution), "?")
            if cause == "WorkerExit":
                print(f"CRASH {system_id} worker process died")
            print(f"EXIT  {system_id} {event.exit_type} status=0x{event.hresult:08X} ({cause})")
            if event.exit_type not in NORMAL_EXITS:
                self.crashed.add(system_id)
            self.exited += 1
            if self.exited == len(self.seen):
                self.all_exited.set()
        elif isinstance(event, SystemCrashInitiated):
            print(f"CRASH {system_id} guest crash started")
        elif isinstance(event, SystemCrashReport):
            params = event.report.crash_parameters if event.report else None
            print(f"CRASH {system_id} guest crash report, parameters {params}")

    async def follow(self, system: ComputeSystem) -> None:
        """Print the events of one system until it exits."""
        async with system, system.events() as stream:
            async for event in stream:
                self.report(system.id, event)

    async def poll(self, tg: TaskGroup, interval: float) -> None:
        """Subscribe to systems as they appear."""
        while True:
            for props in await enumerate_systems():
                system_id = str(props.id)
                if system_id in self.seen:
                    continue
                try:
                    system = await ComputeSystem.open(system_id)
                except (errors.SystemNotFound, errors.SystemAlreadyStopped):
                    continue  # gone before we could look
                self.seen.add(system_id)
                tg.start_soon(self.follow, system)
            await anyio.sleep(interval)


async def simulate(watcher: Watcher) -> None:
    """hcsim only: start four systems, then end each in a different way."""
    if not testing.is_available():
        raise SystemExit("--simulate needs the emulator (it uses hcsim's fault injection)")
    config: dict[str, Any] = {"SchemaVersion": {"Major": 2, "Minor": 1}, "Container": {}}
    names = ("web", "db", "batch", "cache")
    for name in names:
        async with await ComputeSystem.create(name, config) as system:
            await system.start()
    while len(watcher.seen) < len(names):  # let the watcher subscribe first
        await anyio.sleep(0.01)
    async with await ComputeSystem.open("web") as web:
        await web.terminate()
    async with await ComputeSystem.open("batch") as batch:
        await batch.shutdown()
    async with await ComputeSystem.open("cache") as cache:
        await cache.crash()  # the guest crashes: crash events, then UnexpectedExit
    # The worker process dies (no crash report): hcsim's fault injection.
    testing.crash_system("db")


async def main(simulated: bool, interval: float) -> None:
    """Watch (and, with ``simulated``, cause) events; print a summary at the end."""
    watcher = Watcher()
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.poll, tg, interval)
        if simulated:
            await simulate(watcher)
            await watcher.all_exited.wait()
            tg.cancel_scope.cancel()
    crashed = len(watcher.crashed)
    print(
        f"watched {len(watcher.seen)} systems: {crashed} crashed, "
        f"{watcher.exited - crashed} exited normally"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Print exits and crashes of every system.")
    parser.add_argument("--simulate", action="store_true", help="hcsim: cause some events")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between looks")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main, args.simulate, args.interval)
