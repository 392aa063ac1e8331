"""Out of descriptors (RLIMIT_NOFILE): a typed error that names the cause.

Nothing is left running or open, and everything recovers afterwards — on both pipe
engines and both backends. The limit is lowered inside the test (and restored in
``finally``), every free descriptor is taken, then a given number is handed back, so
that each point where a process start needs a descriptor (hcsim's pipes, its duplicates
for the caller, the engine's wake-up descriptors) is hit in turn.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import textwrap
from collections.abc import Iterator

import anyio
import pytest
from helpers import CAT_THEN_STAY, LINUX, echo_and_kill, guest, no_process_left, open_fds

from aiohcs import errors, testing
from aiohcs._pipes import ENGINES
from aiohcs.system import ComputeSystem

if sys.platform != "win32":
    import resource

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.posix_only("exhausts and counts descriptors (RLIMIT_NOFILE)", linux=True),
]

LIMIT = 200


@contextlib.contextmanager
def exhausted(free: int = 0) -> Iterator[None]:
    """RLIMIT_NOFILE at LIMIT (or what is open now, if more) with ``free`` descriptors left."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    taken: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(LIMIT, open_fds() + 16), hard))
    try:
        while True:
            try:
                taken.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            except OSError as exc:
                if exc.errno != errno.EMFILE:
                    raise
                break
        for _ in range(min(free, len(taken))):
            os.close(taken.pop())
        yield
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
async def linux(linux: ComputeSystem) -> ComputeSystem:
    """The shared Linux VM, warmed up (exit monitor, guard, lazy imports) before counting."""
    for engine in ENGINES:
        await linux.run_process(guest("cat"), input=b"", pipe_engine=engine)
    await linux.properties()
    return linux


def assert_names_the_cause(exc: errors.ResourceExhausted) -> None:
    assert exc.hresult == errors.HResult.ERROR_TOO_MANY_OPEN_FILES
    assert "Too many open files" in str(exc)
    assert "EMFILE" in str(exc)


def descriptors() -> dict[int, str]:
    """This process's open descriptors and what each is (``pipe:[…]``, ``socket:[…]``…)."""
    found = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # (the listing's own descriptor, closed by now)
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return found


async def no_descriptor_left(before: dict[int, str], what: str) -> None:
    """Every descriptor opened since ``before`` is closed (after :func:`no_process_left`).

    By then every pipe handle aiohcs was given is closed (PipeHandles is 0), and so is
    everything of aiohcs's own (wake-up eventfds, sockets): those are checked at once.
    What may still be open for a moment are hcsim's own ends of the process's pipes, the
    service side of HCS (on Windows they belong to another process). After a start that
    failed before the pipe handles were handed out, hcsim closes them only when it frees
    its process object, on the last reference, and that one can be dropped by an hcsim
    pool thread (the strand that delivered the exit event) just after the counts reached
    0. So pipes get a bounded wait: one that stays open is still a failure.
    """
    new = {fd: kind for fd, kind in descriptors().items() if before.get(fd) != kind}
    assert all(kind.startswith("pipe:") for kind in new.values()), f"{what}: left open: {new}"
    with anyio.move_on_after(10):
        while descriptors() != before:
            await anyio.sleep(0.01)
    left = {fd: kind for fd, kind in descriptors().items() if before.get(fd) != kind}
    assert descriptors() == before, f"{what}: a descriptor was left open: {left}"


@pytest.mark.parametrize("engine", ENGINES)
async def test_process_start_out_of_descriptors(linux: ComputeSystem, engine: str) -> None:
    """Every number of free descriptors: the process starts, or a typed error, no leak."""
    before = descriptors()
    outcomes = []
    for free in range(14):
        with exhausted(free):
            try:
                proc = await linux.open_process(CAT_THEN_STAY, pipe_engine=engine)
            except errors.ResourceExhausted as exc:
                outcomes.append("exhausted")
                assert_names_the_cause(exc)
                proc = None
        if proc is not None:
            outcomes.append("started")
            async with proc:  # works once descriptors are free again
                await echo_and_kill(proc)
        await no_process_left()
        await no_descriptor_left(before, f"{free} free descriptors")
    # some starts failed for want of descriptors, and some succeeded
    assert outcomes[0] == "exhausted"
    assert outcomes[-1] == "started"
    # full recovery
    result = await linux.run_process(guest("echo ok"), pipe_engine=engine)
    assert result.stdout == b"ok\n"


async def test_spawn_failure_names_errno(linux: ComputeSystem) -> None:
    """hcsim's own spawn path puts errno and its text into the ResultError."""
    with exhausted(0), pytest.raises(errors.ResourceExhausted) as info:
        await linux.open_process(guest("cat"), pipe_engine="fd")
    assert_names_the_cause(info.value)
    assert info.value.operation == "CreateProcess"
    assert "could not be started" in info.value.message
    await no_process_left()


async def test_pipe_handles_out_of_descriptors_leave_nothing_running(linux: ComputeSystem) -> None:
    """A process whose pipe handles cannot be handed out does not stay behind.

    (Nor can its information be asked for again.) The error is typed.
    """
    too_many = errors.HResult.ERROR_TOO_MANY_OPEN_FILES
    testing.fail_next("HcsGetOperationResultAndProcessInfo", too_many)
    testing.fail_next("HcsGetProcessInfo", too_many)
    with pytest.raises(errors.ResourceExhausted):
        await linux.open_process(guest("sleep 1000"))
    await no_process_left()
    # and the next start works
    result = await linux.run_process(guest("echo ok"))
    assert result.stdout == b"ok\n"


# In a fresh interpreter the first call warms up only the common schema models: the first
# properties() with a property query loads the query's model module, which needs
# descriptors.
FIRST_PROPERTIES = textwrap.dedent(
    """
    import errno, os, resource, sys, anyio
    from aiohcs import errors
    from aiohcs.system import ComputeSystem

    async def main():
        system = await ComputeSystem.create("first", {config!r})
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, hard))
        taken = []
        while True:
            try:
                taken.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        assert "aiohcs.schema._types.system_property_query" not in sys.modules
        try:
            await system.properties("Memory")
        except errors.ResourceExhausted as exc:
            print("exhausted:", exc)
        else:
            print("no error")
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        props = await system.properties()
        print("recovered:", props.state)
        await system.terminate()
        await system.aclose()

    anyio.run(main, backend=sys.argv[1])
    """
).format(config=LINUX, limit=LIMIT)


async def test_first_properties_out_of_descriptors(anyio_backend: str) -> None:
    out = await anyio.run_process(
        [sys.executable, "-c", FIRST_PROPERTIES, anyio_backend], check=False
    )
    text = out.stdout.decode()
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    first, second = text.splitlines()[:2]
    assert first.startswith("exhausted: ERROR_TOO_MANY_OPEN_FILES (0x80070004)")
    assert "EMFILE" in first
    assert second == "recovered: Created"


def test_resource_exhausted_from_os_error() -> None:
    exc = errors.ResourceExhausted.from_os_error(
        OSError(errno.EMFILE, os.strerror(errno.EMFILE)), operation="Pipes"
    )
    assert exc.errno == errno.EMFILE
    assert isinstance(exc, errors.HcsError)
    assert str(exc) == (
        "ERROR_TOO_MANY_OPEN_FILES (0x80070004) in Pipes: Too many open files (errno 24, EMFILE)"
    )
    memory = errors.ResourceExhausted.from_os_error(OSError(errno.ENOMEM, "Cannot allocate memory"))
    assert memory.name == "E_OUTOFMEMORY"
    assert memory.errno == errno.ENOMEM
    assert errors.error_class(0x80070004) is errors.ResourceExhausted
    assert errors.error_class(errors.HResult.E_OUTOFMEMORY) is errors.ResourceExhausted
