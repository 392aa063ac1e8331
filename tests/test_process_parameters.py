"""How the ProcessParameters document is made: the guest OS, and complete documents.

``guest_os=`` overrides the detection from the system's RuntimeOsType (a system that
reports none is guessed to be Windows, and the guess is not remembered); ``parameters=``
sends a complete ProcessParameters document (extension members such as ``OciProcess``
kept). ``drain_timeout`` is the same keyword wherever a process is made or opened.
Every test runs on asyncio and trio.
"""

from __future__ import annotations

import inspect
import json
import math
import signal
import subprocess
import typing
from typing import Any

import pytest
from helpers import KILLED, guest, no_hcs_call

import aiohcs
import aiohcs._native
from aiohcs import errors, process, schema
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio

PRINT_ARGS = guest("argv", "a b", 'c"d')
# (the same, quoted for a Windows guest)
QUOTED = subprocess.list2cmdline(guest("argv")) + ' "a b" "c\\"d"'
#: A command line (a str) that sleeps 30 s.
SLEEP_LINE = subprocess.list2cmdline(guest("sleep 30"))


class Spy:
    """What process.py sends as ProcessParameters, and how often the system is queried."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self.queries = 0


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    """Record the documents sent; the system's properties come without RuntimeOsType."""
    found = Spy()
    to_wide = aiohcs._native.to_wide
    properties = ComputeSystem.properties

    def recording_to_wide(text: str | None) -> Any:
        if text is not None and text.lstrip().startswith("{"):
            document = json.loads(text)
            if "CreateStdInPipe" in document:
                found.documents.append(document)
        return to_wide(text)

    async def without_os_type(self: ComputeSystem, *types: str, query: Any = None) -> Any:
        found.queries += 1
        props = await properties(self, *types, query=query)
        props.runtime_os_type = None
        return props

    monkeypatch.setattr(process, "to_wide", recording_to_wide)
    monkeypatch.setattr(ComputeSystem, "properties", without_os_type)
    return found


# ---------------------------------------------------------------- the guest OS


async def test_a_missing_runtime_os_type_is_a_guess_not_remembered(
    linux: ComputeSystem, spy: Spy
) -> None:
    assert await process.detect_guest_os(linux) == "Windows"
    assert await process.detect_guest_os(linux) == "Windows"
    assert spy.queries == 2  # asked again: the guess is not cached


async def test_a_reported_runtime_os_type_is_remembered(
    linux: ComputeSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = []
    properties = ComputeSystem.properties

    async def counting(self: ComputeSystem, *types: str, query: Any = None) -> Any:
        queries.append(types)
        return await properties(self, *types, query=query)

    monkeypatch.setattr(ComputeSystem, "properties", counting)
    assert await process.detect_guest_os(linux) == "Linux"
    assert await process.detect_guest_os(linux) == "Linux"
    assert len(queries) == 1


async def test_without_guest_os_the_guess_is_windows(linux: ComputeSystem, spy: Spy) -> None:
    """(What the keyword is for: a Linux system that does not report its OS.)"""
    result = await linux.run_process(PRINT_ARGS, stderr=None)
    assert "CommandArgs" not in spy.documents[0]
    assert spy.documents[0]["CommandLine"] == QUOTED
    assert result.returncode == 0


FORMS = ["method", "function"]


async def run_in(system: ComputeSystem, form: str, command: Any, **options: Any) -> Any:
    if form == "method":
        return await system.run_process(command, **options)
    return await process.run_process(system, command, **options)


async def open_in(system: ComputeSystem, form: str, command: Any, **options: Any) -> Any:
    if form == "method":
        return await system.open_process(command, **options)
    return await process.open_process(system, command, **options)


async def stream_in(system: ComputeSystem, form: str, command: Any, **options: Any) -> Any:
    chunks: list[bytes] = []

    def write(name: str, data: bytes) -> None:
        chunks.append(data)

    if form == "method":
        code = await system.stream_process(command, write, **options)
    else:
        code = await process.stream_process(system, command, write, **options)
    return code, b"".join(chunks)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("guest", "sent"),
    [("Linux", ("CommandArgs", PRINT_ARGS)), ("Windows", ("CommandLine", QUOTED))],
)
async def test_guest_os_overrides_the_detection(
    linux: ComputeSystem, spy: Spy, form: str, guest: str, sent: tuple[str, Any]
) -> None:
    """(hcsim splits a command line by the Windows rules on any guest: both round-trip.)"""
    result = await run_in(linux, form, PRINT_ARGS, guest_os=guest)
    assert result.stdout == b'a b|c"d|'
    streamed = await stream_in(linux, form, PRINT_ARGS, guest_os=guest)
    assert streamed == (0, b'a b|c"d|')
    async with await open_in(linux, form, PRINT_ARGS, stdin=None, guest_os=guest) as proc:
        assert proc.stdout is not None
        assert await proc.stdout.read_all() == b'a b|c"d|'
        assert await proc.wait() == 0
    assert len(spy.documents) == 3
    for document in spy.documents:
        assert document[sent[0]] == sent[1]
        assert not {"CommandArgs", "CommandLine"} - {sent[0]} & set(document)
    assert spy.queries == 0  # no detection at all


async def test_guest_os_is_used_for_signals(linux: ComputeSystem, spy: Spy) -> None:
    """A command line needs no guest OS to start; the keyword then decides the signals."""
    async with await linux.open_process(SLEEP_LINE, stdin=None, guest_os="Linux") as proc:
        assert await proc.send_signal("SIGTERM") is True  # a Windows guess would refuse it
        assert await proc.wait() == 128 + signal.SIGTERM
    assert spy.queries == 0


@pytest.mark.parametrize("value", ["linux", "Darwin", 1, ""])
async def test_a_bad_guest_os_is_refused_before_hcs(linux: ComputeSystem, value: Any) -> None:
    async with no_hcs_call(linux):
        with pytest.raises(errors.InvalidArgumentError, match="guest_os"):
            await linux.open_process(guest("exit 0"), guest_os=value)


# ---------------------------------------------------------------- complete documents

OCI_PARAMETERS: dict[str, Any] = {
    "CommandArgs": guest("env X", "cat"),
    "Environment": {"X": "from the document"},
    "OciProcess": {"args": ["sh", "-c", "..."], "cwd": "/", "terminal": False},
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", ["dict", "json", "model"])
async def test_a_complete_document_is_sent_with_its_extension_members(
    linux: ComputeSystem, spy: Spy, form: str, kind: str
) -> None:
    given: Any = {
        "dict": OCI_PARAMETERS,
        "json": json.dumps(OCI_PARAMETERS),
        "model": schema.ProcessParameters.coerce(OCI_PARAMETERS),
    }[kind]
    before = given.to_json() if kind == "model" else None
    result = await run_in(linux, form, None, parameters=given, input=b"in")
    assert result.stdout == b"from the document\nin"
    assert result.stderr == b""
    assert isinstance(result.args, schema.ProcessParameters)
    sent = spy.documents[0]
    assert sent["OciProcess"] == OCI_PARAMETERS["OciProcess"]
    assert sent["CommandArgs"] == OCI_PARAMETERS["CommandArgs"]
    # The pipes are what the keywords ask for (run_process: stdin only with input).
    assert (sent["CreateStdInPipe"], sent["CreateStdOutPipe"], sent["CreateStdErrPipe"]) == (
        True,
        True,
        True,
    )
    assert spy.queries == 0
    if kind == "model":
        assert given.to_json() == before  # the caller's model is not changed


async def test_the_pipe_keywords_set_the_documents_pipe_members(
    linux: ComputeSystem, spy: Spy
) -> None:
    document = {**OCI_PARAMETERS, "CreateStdOutPipe": True, "CreateStdErrPipe": False}
    async with await linux.open_process(
        parameters=document, stdout=None, stderr=aiohcs.PIPE
    ) as proc:
        assert proc.stdout is None
        assert proc.stderr is not None
        assert proc.stdin is not None
        await proc.stdin.aclose()
        assert await proc.wait() == 0
    sent = spy.documents[0]
    assert (sent["CreateStdInPipe"], sent["CreateStdOutPipe"], sent["CreateStdErrPipe"]) == (
        True,
        False,
        True,
    )


@pytest.mark.parametrize(
    ("command", "options", "named"),
    [
        (["true"], {}, "command"),
        (None, {"cwd": "/"}, "cwd"),
        (None, {"env": {"A": "1"}}, "env"),
        (None, {"user": "root"}, "user"),
        (None, {"console": (24, 80)}, "console"),
        ("true", {"env": {}, "cwd": "/"}, "command, cwd, env"),
    ],
)
async def test_a_complete_document_excludes_the_command_keywords(
    linux: ComputeSystem, command: Any, options: dict[str, Any], named: str
) -> None:
    async with no_hcs_call(linux):
        with pytest.raises(errors.InvalidArgumentError, match=f"pass no {named} with it"):
            await linux.open_process(command, parameters=OCI_PARAMETERS, **options)


async def test_a_bad_complete_document_is_refused_before_hcs(linux: ComputeSystem) -> None:
    async with no_hcs_call(linux):
        with pytest.raises(errors.InvalidDocumentError, match="CommandArgs"):
            await linux.open_process(parameters={"CommandArgs": 5})
        with pytest.raises(errors.InvalidDocumentError):
            await linux.open_process(parameters=42)
        with pytest.raises(TypeError, match="a command"):
            await linux.open_process()


async def test_process_open_takes_guest_os_for_signals(linux: ComputeSystem, spy: Spy) -> None:
    async with await linux.open_process(SLEEP_LINE, stdin=None, stdout=None) as proc:
        other = await process.Process.open(linux, proc.pid, guest_os="Linux")
        async with other:
            assert await other.send_signal("SIGTERM") is True  # (a Windows guess refuses it)
        assert await proc.wait() == 128 + signal.SIGTERM
    assert spy.queries == 0


# ---------------------------------------------------------------- drain_timeout


def test_drain_timeout_is_the_same_keyword_everywhere() -> None:
    for function in (process.Process.open, ComputeSystem.open_process):
        parameter = inspect.signature(function).parameters["drain_timeout"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default == process.DRAIN_TIMEOUT == 2.0
        assert parameter.annotation == "float"
    assert typing.get_type_hints(process.ProcessOptions)["drain_timeout"] is float


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (None, TypeError),
        ("1", TypeError),
        (True, TypeError),
        (-0.5, errors.InvalidArgumentError),
        (math.nan, errors.InvalidArgumentError),
    ],
)
async def test_a_bad_drain_timeout_is_refused_before_hcs(
    linux: ComputeSystem, value: Any, error: type[Exception]
) -> None:
    async with no_hcs_call(linux):
        with pytest.raises(error, match="drain_timeout"):
            await linux.open_process(guest("exit 0"), drain_timeout=value)
        with pytest.raises(error, match="drain_timeout"):
            await process.Process.open(linux, 1, drain_timeout=value)
        with pytest.raises(error, match="drain_timeout"):
            await linux.run_process(guest("exit 0"), drain_timeout=value)


@pytest.mark.parametrize("value", [0, 0.5, math.inf])
async def test_drain_timeouts_that_are_taken(linux: ComputeSystem, value: float) -> None:
    result = await linux.run_process(guest("echo x"), drain_timeout=value)
    assert result.stdout == b"x\n"
    async with await linux.open_process(guest("sleep 30"), stdin=None) as proc:
        async with await process.Process.open(linux, proc.pid, drain_timeout=value) as other:
            assert await other.kill() is True
            assert await other.wait() == KILLED
        assert await proc.wait() == KILLED
