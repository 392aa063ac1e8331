"""Bad input to the public entries: one error family, raised before anything reaches C.

Every public entry that takes ids, documents or options (``ComputeSystem.create``, ``open``,
``restore``, ``save``, ``modify``, ``properties``, the lifecycle calls' options,
``enumerate_systems``, the service functions, ``open_process``/``run_process``/
``stream_process`` (methods and functions), ``Process.open``, ``send_signal`` and
``resize_console``) rejects ``None``, ``""``, wrong types, NUL
characters and over-deep documents with an :class:`aiohcs.errors.InvalidArgumentError`
(:class:`~aiohcs.errors.InvalidArgumentTypeError` for wrong types, a TypeError too;
:class:`~aiohcs.errors.InvalidDocumentError` for documents) — never an exception group, a
pydantic error or an HCS error. "Before C" is checked with a tripwire: every HCS function
is made to fail with a distinctive HRESULT, so a call that reached one would come back as
an :class:`~aiohcs.errors.HcsError` instead.
"""

from __future__ import annotations

import json
import pydoc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import pytest
from helpers import CONTAINER, LINUX, TRIPWIRE, VM, WINE, guest, tripwire
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiohcs import ComputeSystem, enumerate_systems, errors, testing
from aiohcs import process as process_module
from aiohcs._documents import MAX_DEPTH
from aiohcs.errors import (
    HcsError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidDocumentError,
)
from aiohcs.operation import HandleClosedError
from aiohcs.process import Process
from aiohcs.service import modify_service_settings, service_properties, submit_wer_report


def deep(depth: int) -> Any:
    """A mapping nested ``depth`` levels deep."""
    value: Any = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _family(exc: BaseException) -> bool:
    # (An exception group is never an InvalidArgumentError; its leaves do not count.)
    return isinstance(exc, InvalidArgumentError) and not hasattr(exc, "exceptions")


# ---------------------------------------------------------------- junk

_OBJECTS = st.builds(object)
_NUMBERS = st.integers() | st.floats(allow_nan=True) | st.booleans()
_CONTAINERS = (
    st.lists(st.integers(), max_size=3) | st.tuples(st.integers()) | st.sets(st.integers())
)
_WITH_NUL = st.text(max_size=8).map(lambda t: t + "\0" + t)
_WITH_SURROGATE = st.text(max_size=8).map(lambda t: t + "\ud800" + t)
_DEEP_MAPPING = st.integers(min_value=MAX_DEPTH + 1, max_value=6000).map(
    lambda n: {**CONTAINER, "Extension": deep(n)}
)
#: A string member HCS would cut short, or cannot take at all (UTF-16 has no lone surrogates).
_BAD_STRING_MEMBER = (_WITH_NUL | _WITH_SURROGATE).map(lambda t: {**CONTAINER, "Owner": t})
_DEEP_TEXT = st.integers(min_value=MAX_DEPTH + 1, max_value=3000).map(
    lambda n: '{"Extension": ' + "[" * n + "]" * n + "}"
)

#: Not a usable id or namespace (None is the default namespace: valid there).
NAME_JUNK = st.one_of(
    st.just(""), _NUMBERS, _CONTAINERS, st.binary(max_size=4), _WITH_NUL, _WITH_SURROGATE, _OBJECTS
)
ID_JUNK = st.none() | NAME_JUNK
#: Not a usable document of any schema type.
DOCUMENT_JUNK = st.one_of(
    _NUMBERS,
    _CONTAINERS,
    _OBJECTS,
    st.text(max_size=12).filter(lambda t: not _is_json_object(t)),
    _DEEP_MAPPING,
    _DEEP_TEXT,
    _BAD_STRING_MEMBER,
)
#: Not a usable path (a str not starting with "{" is one; so save gets no text junk).
PATH_JUNK = st.one_of(
    st.none(), st.just(""), _NUMBERS, _CONTAINERS, _OBJECTS, _WITH_NUL, _WITH_SURROGATE
)

#: Not a command: no str or sequence of str, empty, or a NUL / lone surrogate inside.
_BAD_ARGUMENT = st.one_of(
    _NUMBERS, _OBJECTS, st.none(), st.binary(max_size=4), _WITH_NUL, _WITH_SURROGATE
)
COMMAND_JUNK = st.one_of(
    st.none(),
    st.just(""),
    st.just([]),
    _NUMBERS,
    _OBJECTS,
    st.binary(max_size=4),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    _WITH_NUL,
    _WITH_SURROGATE,
    st.lists(st.text(max_size=4), max_size=2).flatmap(
        lambda head: _BAD_ARGUMENT.map(lambda bad: ["echo", *head, bad])
    ),
)
_NOT_STREAM = st.one_of(
    st.integers().filter(lambda n: n not in (-1, -3)),  # (PIPE, DEVNULL)
    st.floats(allow_nan=True),
    st.text(max_size=4),
    _OBJECTS,
)
_NOT_NUMBER = st.one_of(st.none(), st.text(max_size=4), _OBJECTS, _CONTAINERS, st.booleans())
#: Junk for each keyword every way of starting a process takes.
OPTION_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "cwd": PATH_JUNK.filter(lambda v: v is not None and v != ""),
    "env": st.one_of(
        _NUMBERS,
        _CONTAINERS,
        _OBJECTS,
        st.text(max_size=4),
        st.dictionaries(_BAD_ARGUMENT, st.just("x"), min_size=1, max_size=1),
        st.dictionaries(st.just("A"), _BAD_ARGUMENT, min_size=1, max_size=1),
    ),
    "user": _BAD_ARGUMENT.filter(lambda v: v is not None),
    "console": st.one_of(
        _NUMBERS,
        _OBJECTS,
        st.text(max_size=4),
        st.lists(st.integers(0, 100), max_size=3).filter(lambda v: len(v) != 2),
        st.tuples(_NOT_NUMBER | st.floats(), st.integers(0, 100)),
        st.tuples(st.integers(0, 100), st.integers().filter(lambda n: not 0 <= n <= 65535)),
    ),
    "pipe_engine": st.one_of(
        _NUMBERS, _OBJECTS, st.text(max_size=6).filter(lambda t: t not in ("fd", "thread"))
    ),
    "drain_timeout": st.one_of(
        _NOT_NUMBER,
        st.floats(max_value=-1e-9) | st.integers(max_value=-1) | st.just(float("nan")),
    ),
    "guest_os": st.one_of(
        _NUMBERS, _OBJECTS, st.text(max_size=8).filter(lambda t: t not in ("Linux", "Windows"))
    ),
    "parameters": DOCUMENT_JUNK,
}
#: (keyword, junk) for one of them.
OPTION_JUNK = st.one_of(
    [st.tuples(st.just(name), values) for name, values in OPTION_VALUES.items()]
)
#: A good command with one bad keyword, or a bad command.
START_JUNK = st.one_of(
    COMMAND_JUNK.map(lambda command: (command, {})),
    OPTION_JUNK.map(
        lambda option: (None if option[0] == "parameters" else ["true"], dict([option]))
    ),
)
#: Not a pid: HcsOpenProcess takes a 32-bit unsigned process id.
PID_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    st.text(max_size=4),
    _OBJECTS,
    _CONTAINERS,
    st.integers(max_value=-1),
    st.integers(min_value=2**32),
)
_SIGNAL_NAMES = {name.removeprefix("SIG") for name in process_module.LINUX_SIGNALS}
#: Not a signal a process can be sent.
SIGNAL_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    _OBJECTS,
    _CONTAINERS,
    st.binary(max_size=4),
    st.integers().filter(lambda n: not 1 <= n <= 64),
    st.text(max_size=8).filter(lambda t: t.upper().removeprefix("SIG") not in _SIGNAL_NAMES),
)
#: Not a console size.
SIZE_JUNK = st.tuples(
    st.one_of(_NOT_NUMBER, st.floats(), st.integers().filter(lambda n: not 0 <= n <= 65535)),
    st.integers(0, 100),
).flatmap(lambda pair: st.sampled_from([pair, pair[::-1]]))

Call = Callable[[ComputeSystem, Any], Awaitable[object]]


def _write(name: str, chunk: bytes) -> None:
    """A ``write`` for stream_process (junk never gets a process to write)."""


def _sync(function: Callable[..., object], *args: Any, **kwargs: Any) -> Awaitable[object]:
    """A synchronous call (the testing API) as an awaitable, called when awaited."""

    async def call() -> object:
        return function(*args, **kwargs)

    return call()


ENTRIES: dict[str, tuple[st.SearchStrategy[Any], Call]] = {
    "create id": (ID_JUNK, lambda s, j: ComputeSystem.create(j, CONTAINER)),
    "create config": (DOCUMENT_JUNK | st.none(), lambda s, j: ComputeSystem.create("x", j)),
    "create namespace": (
        NAME_JUNK,
        lambda s, j: ComputeSystem.create("x", CONTAINER, namespace=j),
    ),
    "open id": (ID_JUNK, lambda s, j: ComputeSystem.open(j)),
    "open namespace": (NAME_JUNK, lambda s, j: ComputeSystem.open("x", namespace=j)),
    "restore id": (ID_JUNK, lambda s, j: ComputeSystem.restore(j, VM, "state.vmrs")),
    "restore config": (
        DOCUMENT_JUNK | st.none() | st.just(CONTAINER),
        lambda s, j: ComputeSystem.restore("x", j, "state.vmrs"),
    ),
    "restore state_file": (PATH_JUNK, lambda s, j: ComputeSystem.restore("x", VM, j)),
    "save": (PATH_JUNK | _DEEP_MAPPING, lambda s, j: s.save(j)),
    "modify": (DOCUMENT_JUNK | st.none(), lambda s, j: s.modify(j)),
    "properties query": (DOCUMENT_JUNK, lambda s, j: s.properties(query=j)),
    "properties types": (
        st.lists(_NUMBERS | _OBJECTS | st.none(), min_size=1, max_size=3),
        lambda s, j: s.properties(*j),
    ),
    "start": (DOCUMENT_JUNK, lambda s, j: s.start(j)),
    "pause": (DOCUMENT_JUNK, lambda s, j: s.pause(j)),
    "resume": (DOCUMENT_JUNK, lambda s, j: s.resume(j)),
    "shutdown": (DOCUMENT_JUNK, lambda s, j: s.shutdown(j)),
    "terminate": (DOCUMENT_JUNK, lambda s, j: s.terminate(j)),
    "crash": (DOCUMENT_JUNK, lambda s, j: s.crash(j)),
    "enumerate query": (DOCUMENT_JUNK, lambda s, j: enumerate_systems(j)),
    "enumerate namespace": (NAME_JUNK, lambda s, j: enumerate_systems(namespace=j)),
    "service_properties query": (DOCUMENT_JUNK, lambda s, j: service_properties(query=j)),
    "service_properties types": (
        st.lists(_NUMBERS | _OBJECTS | st.none(), min_size=1, max_size=3),
        lambda s, j: service_properties(*j),
    ),
    "modify_service_settings": (
        DOCUMENT_JUNK | st.none(),
        lambda s, j: modify_service_settings(j),
    ),
    "submit_wer_report": (DOCUMENT_JUNK | st.none(), lambda s, j: submit_wer_report(j)),
    "open_process": (START_JUNK, lambda s, j: s.open_process(j[0], **j[1])),
    "process.open_process": (
        START_JUNK,
        lambda s, j: process_module.open_process(s, j[0], **j[1]),
    ),
    "run_process": (START_JUNK, lambda s, j: s.run_process(j[0], **j[1])),
    "run_process input": (
        st.one_of(st.text(max_size=4), _NUMBERS, _OBJECTS, st.lists(st.integers(0, 255))),
        lambda s, j: s.run_process(["true"], input=j),
    ),
    "run_process check": (
        st.one_of(st.none(), st.integers(), st.text(max_size=4), _OBJECTS),
        lambda s, j: s.run_process(["true"], check=j),
    ),
    "process.run_process": (START_JUNK, lambda s, j: process_module.run_process(s, j[0], **j[1])),
    "stream_process": (START_JUNK, lambda s, j: s.stream_process(j[0], _write, **j[1])),
    "stream_process write": (
        st.one_of(st.none(), _NUMBERS, st.text(max_size=4), _CONTAINERS),
        lambda s, j: s.stream_process(["true"], j),
    ),
    "process.stream_process": (
        START_JUNK,
        lambda s, j: process_module.stream_process(s, j[0], _write, **j[1]),
    ),
    "Process.open pid": (PID_JUNK, lambda s, j: Process.open(s, j)),
    "Process.open drain_timeout": (
        OPTION_VALUES["drain_timeout"],
        lambda s, j: Process.open(s, 1, drain_timeout=j),
    ),
    "Process.open guest_os": (
        OPTION_VALUES["guest_os"],
        lambda s, j: Process.open(s, 1, guest_os=j),
    ),
    "testing.crash_system": (ID_JUNK, lambda s, j: _sync(testing.crash_system, j)),
    "testing.guest_shutdown namespace": (
        NAME_JUNK,
        lambda s, j: _sync(testing.guest_shutdown, "target", namespace=j),
    ),
    "testing.raise_system_event": (
        _NUMBERS.filter(lambda n: not (isinstance(n, int) and 0 <= n <= 0xFFFFFFFF)),
        lambda s, j: _sync(testing.raise_system_event, s, j),
    ),
    "testing.fail_next": (ID_JUNK, lambda s, j: _sync(testing.fail_next, j, TRIPWIRE)),
    "testing.delay": (ID_JUNK, lambda s, j: _sync(testing.delay, j, completion_ms=1)),
}


async def _refused(
    name: str, call: Callable[[Any, Any], Awaitable[object]], target: Any, junk: Any
) -> None:
    """``call(target, junk)`` raises the input error family and nothing reaches C."""
    before = testing.counts()
    raised: BaseException | None = None
    with tripwire():
        try:
            await call(target, junk)
        except Exception as exc:
            raised = exc
    assert raised is not None, f"{name} accepted {junk!r}"
    assert _family(raised), (name, repr(raised))
    assert not isinstance(raised, HcsError)
    assert testing.counts() == before


def _send_junk(
    backend: str,
    data: st.DataObject,
    entries: Mapping[str, tuple[st.SearchStrategy[Any], Callable[[Any, Any], Awaitable[object]]]],
    target: Callable[[], AbstractAsyncContextManager[Any]],
) -> None:
    """Draw an entry and junk for it; call it on ``target()`` in a fresh hcsim."""
    name = data.draw(st.sampled_from(sorted(entries)), label="entry")
    strategy, call = entries[name]
    junk = data.draw(strategy, label="junk")

    async def main() -> None:
        phase = "setting up"
        try:
            async with target() as on:
                phase = "the call"
                await _refused(name, call, on, junk)
                phase = "tearing down"
        except HcsError as exc:
            # Not the property under test, but a failure of hcsim itself: say where it was.
            raise AssertionError(f"{name}: {phase} the target failed: {exc}") from exc

    testing.reset()
    anyio.run(main, backend=backend)
    testing.assert_no_leaks()


@asynccontextmanager
async def _created_vm(config: dict[str, Any] = VM, *, start: bool = False) -> AsyncIterator[Any]:
    """A created (and optionally started) VM; terminated and closed afterwards."""
    system = await ComputeSystem.create("target", config)
    try:
        if start:
            await system.start()
        yield system
    finally:
        with anyio.CancelScope(shield=True):
            await system.terminate()
            await system.aclose()


@asynccontextmanager
async def _running_process() -> AsyncIterator[Process]:
    async with _created_vm(LINUX, start=True) as system:
        proc = await system.open_process(guest("sleep 60"), console=(24, 80), stdin=None)
        try:
            yield proc
        finally:
            with anyio.CancelScope(shield=True):
                await proc.kill()
                await proc.aclose()


ProcessCall = Callable[[Process, Any], Awaitable[object]]

#: The calls on a running process that take arguments.
PROCESS_ENTRIES: dict[str, tuple[st.SearchStrategy[Any], ProcessCall]] = {
    "send_signal": (SIGNAL_JUNK, lambda p, j: p.send_signal(j)),
    "resize_console": (SIZE_JUNK, lambda p, j: p.resize_console(*j)),
}
#: The entries, and what they are called on.
SUITES: dict[str, tuple[Mapping[str, Any], Callable[[], AbstractAsyncContextManager[Any]]]] = {
    "system": (ENTRIES, _created_vm),
    "process": (PROCESS_ENTRIES, _running_process),
}


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("suite", sorted(SUITES))
@settings(
    # Fewer under Wine, where each example's compute system is slower to make and the suite
    # runs once per CI run (Linux keeps the full count, in process and in service mode).
    max_examples=100 if WINE else 250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_junk_to_any_public_entry_raises_the_input_error_family_before_c(
    backend: str, suite: str, data: st.DataObject
) -> None:
    entries, target = SUITES[suite]
    _send_junk(backend, data, entries, target)


# ---------------------------------------------------------------- the defects of issue 11


@pytest.mark.anyio
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
async def test_a_deeply_nested_config_is_an_invalid_document(depth: int) -> None:
    with tripwire(), pytest.raises(InvalidDocumentError) as info:
        await ComputeSystem.create("deep", {**CONTAINER, "Extension": deep(depth)})
    assert info.value.argument == "config"
    assert f"nested more than {MAX_DEPTH} levels deep" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("owner", ["a\0b", "\0"])
async def test_a_nul_in_a_document_string_is_refused(owner: str) -> None:
    # (JSON can carry it as \u0000, but HCS strings end at the first NUL: "a\0b" became "a".)
    with tripwire(), pytest.raises(InvalidDocumentError, match="NUL"):
        await ComputeSystem.create("nul", {**CONTAINER, "Owner": owner})


@pytest.mark.anyio
async def test_an_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    config = {**CONTAINER, "Owner": "a\\u0000"}
    async with await ComputeSystem.create("not-nul", config) as system:
        assert (await system.properties()).owner == "a\\u0000"
        await system.terminate()


@pytest.mark.anyio
async def test_a_config_at_the_depth_limit_is_accepted() -> None:
    # MAX_DEPTH counts the document itself: the extension adds MAX_DEPTH - 1 levels.
    config = {**CONTAINER, "Extension": deep(MAX_DEPTH - 1)}
    async with await ComputeSystem.create("deep", config) as system:
        await system.terminate()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (None, InvalidArgumentTypeError),
        ("", InvalidArgumentError),
        (7, InvalidArgumentTypeError),
        ("a\0b", InvalidArgumentError),
    ],
)
async def test_create_and_open_refuse_bad_ids_before_hcs(bad: Any, error: type) -> None:
    with tripwire():
        with pytest.raises(error, match="id"):
            await ComputeSystem.create(bad, CONTAINER)
        with pytest.raises(error, match="id"):
            await ComputeSystem.open(bad)


@pytest.mark.anyio
async def test_a_wrong_type_is_a_type_error_of_the_family() -> None:
    with pytest.raises(TypeError) as info:
        await ComputeSystem.create(None, CONTAINER)  # type: ignore[arg-type]
    assert isinstance(info.value, InvalidArgumentError)


@pytest.mark.anyio
async def test_restore_of_a_container_config_is_an_invalid_document() -> None:
    with tripwire(), pytest.raises(InvalidDocumentError) as info:
        await ComputeSystem.restore("r", CONTAINER, "state.vmrs")
    assert info.value.path == "VirtualMachine"
    assert info.value.argument == "config"
    assert "containers cannot be restored" in str(info.value)


@pytest.mark.anyio
async def test_events_on_a_closed_handle_raise() -> None:
    system = await ComputeSystem.create("ev", CONTAINER)
    await system.terminate()
    await system.aclose()
    with pytest.raises(HandleClosedError):
        system.events()


@pytest.mark.anyio
async def test_process_events_on_a_closed_handle_raise() -> None:
    async with await ComputeSystem.create("pev", CONTAINER) as system:
        await system.start()
        proc = await system.open_process(guest("exit 0"), stdin=None, stdout=None, stderr=None)
        await proc.aclose()
        with pytest.raises(HandleClosedError):
            proc.events()
        await system.terminate()


def test_help_shows_no_inherited_init_docstring() -> None:
    text = pydoc.plain(pydoc.render_doc(ComputeSystem))
    assert "Take over the handle" not in text
    assert "Internal: use" in text


def test_the_family_is_exported() -> None:
    assert issubclass(errors.InvalidArgumentTypeError, TypeError)
    assert issubclass(errors.InvalidArgumentTypeError, errors.InvalidArgumentError)
    assert issubclass(errors.InvalidDocumentError, errors.InvalidArgumentError)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: testing.crash_system(""), InvalidArgumentError),
        (lambda: testing.crash_system(None), InvalidArgumentTypeError),  # type: ignore[arg-type]
        (lambda: testing.guest_shutdown("x", namespace=""), InvalidArgumentError),
        (lambda: testing.fail_next(5, TRIPWIRE), InvalidArgumentTypeError),  # type: ignore[arg-type]
        (lambda: testing.fail_next("HcsNoSuchFunction", TRIPWIRE), InvalidArgumentError),
        (lambda: testing.fail_next("HcsStartComputeSystem", 0), InvalidArgumentError),
        (lambda: testing.delay("HcsStartComputeSystem", completion_ms=-1), InvalidArgumentError),
        (lambda: testing.raise_system_event("x", 1, payload=5), InvalidArgumentTypeError),  # type: ignore[arg-type]
        (lambda: testing.set_option("NoSuchOption", 1), InvalidArgumentError),  # type: ignore[arg-type]
    ],
)
def test_testing_api_input_errors_are_of_the_family(
    call: Callable[[], object], error: type[Exception]
) -> None:
    with tripwire(), pytest.raises(error):
        call()
