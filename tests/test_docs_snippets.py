"""The code shown in the documentation runs and does what the text says.

Every ```python block under docs/ has an entry in :data:`SPECS`, keyed ``page:N`` (N counts
the page's python blocks from 1), saying how it is tested:

* ``run``: executed as written in this process on hcsim, as top-level ``await`` code, once
  on asyncio and once on trio. The page's :data:`PRELUDES` and the block's ``setup`` run
  first in the same namespace (imports, the systems the page says its fragments take);
  ``check`` runs after it. ``output`` lists text the block must print. An expression
  statement whose comment is a Python literal (``exc.hresult  # 0x80370105``) is a claim:
  it must be executed and equal that literal.
* ``sync``: plain synchronous code, executed the same way outside any event loop.
* ``script`` / ``pytest``: a complete program or test module, run as written in a child.
* ``windows``: needs a Windows host or guest (``cmd.exe``, a container image), so it is
  compiled only. Such a block must be marked in the page itself, on the line before its
  fence: ``<!-- windows-only: REASON -->`` (and only such blocks may be).

Nothing is rewritten before it runs: a block either runs as written on hcsim or is marked
Windows-only.

Whatever the kind, every ``aiohcs.X`` and ``from aiohcs... import X`` a block uses must exist.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import re
import subprocess
import tokenize
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import anyio
import helpers
import pytest
from helpers import REPO, run_child

import aiohcs
from aiohcs._hcn_object import HcnObject
from aiohcs.process import Process
from aiohcs.system import ComputeSystem, enumerate_systems

DOCS = REPO / "docs"
EXAMPLES = DOCS.parent / "examples"
TIMEOUT = 120
BACKENDS = ("asyncio", "trio")


@dataclass(frozen=True)
class Spec:
    """How one documentation block is tested (see the module docstring)."""

    how: Literal["run", "sync", "script", "pytest", "windows"] = "run"
    setup: str = ""
    check: str = ""
    output: tuple[str, ...] = ()
    backends: tuple[str, ...] = BACKENDS
    #: Why the block runs on POSIX only (it runs the host's commands as written), if it does.
    posix_only: str = ""


#: The reason of the blocks that run the host's POSIX commands (hcsim runs host processes).
POSIX_COMMANDS = "its example runs POSIX commands (echo, cat, sleep...) as written"

#: A setup that gives the block ``system``, a running container (see started_container).
CONTAINER = "system = await started_container()"

#: A process-isolated container: on hcsim its processes are host processes.
CONFIG = "CONFIG = {'SchemaVersion': {'Major': 2, 'Minor': 1}, 'Container': {}}\n"

#: A setup that gives the block ``vm``, a running VM (networking guide).
RUNNING_VM = "vm = await ComputeSystem.create('vm1', builders.empty_vm())\nawait vm.start()\n"

#: A setup that gives the block ``network``, a NAT network (networking guide).
A_NETWORK = "network = await hcn.create_nat_network('nat', '10.0.0.0/24')\n"

#: Run before every block of a page, in the block's namespace: what the page's fragments
#: take as given (imports, a configuration).
PRELUDES: dict[str, str] = {
    "index.md": "import anyio\n" + CONFIG,
    "concepts.md": "from aiohcs import ComputeSystem\nfrom aiohcs.schema import builders",
    "quickstart.md": "from aiohcs import ComputeSystem\n" + CONFIG,
    "guides/lifecycle.md": """
from aiohcs import ComputeSystem, enumerate_systems
from aiohcs.events import SystemExited
from aiohcs.schema import builders
""",
    "guides/events.md": """
import anyio
from anyio.abc import TaskGroup
import aiohcs
from aiohcs import ComputeSystem, enumerate_systems, errors
from aiohcs.events import SystemCrashReport, SystemExited
"""
    + CONFIG,
    "guides/processes.md": "import signal\nimport sys\nimport aiohcs",
    "guides/save-restore.md": """
from aiohcs import ComputeSystem
from aiohcs.access import grant_vm_access
from aiohcs.schema import builders
config = builders.empty_vm(memory_mb=2048).to_dict()
""",
    "guides/errors.md": "import aiohcs\nfrom aiohcs import ComputeSystem\n" + CONFIG,
    "guides/cancellation.md": """
import asyncio
import anyio
from aiohcs import ComputeSystem
from aiohcs.schema import builders
""",
    "guides/asyncio-server.md": """
import contextlib
import types
import anyio
from aiohcs import ComputeSystem, enumerate_systems
Systems = load_example("http_service").Systems
"""
    + CONFIG,
    "guides/progress-and-migration.md": """
import functools
import socket
import anyio
from aiohcs import ComputeSystem
from aiohcs.events import VmLifecycleEvent
from aiohcs.schema import builders
config = builders.empty_vm(memory_mb=1024).to_dict()
""",
    "guides/testing-with-hcsim.md": "",
    "guides/networking.md": """
import aiohcs
import aiohcs.hcn as hcn
from aiohcs import ComputeSystem
from aiohcs.schema import builders
""",
    "guides/fork.md": "",
    "guides/host-resources.md": """
import sys
import uuid
from aiohcs import ComputeSystem, access, vhd
from aiohcs.schema import builders
SERVICE_ID = uuid.UUID("c1a551c0-0b5e-4d2a-9a65-4ee5fa7e0001")
UPPER = f'''
from aiohcs.hvsocket import guest_listener
with guest_listener("{SERVICE_ID}") as listener:
    print("ready", flush=True)
    conn, _ = listener.accept()
    with conn:
        conn.sendall(conn.recv(100).upper())
'''

async def vm_files():
    files = tmp_path / "os.vhdx", tmp_path / "vm1.vmgs", tmp_path / "vm1.vmrs"
    await vhd.create_vhdx(files[0], 64 << 20)
    await access.create_empty_guest_state_file(files[1])
    await access.create_empty_runtime_state_file(files[2])
    for path in files:
        await access.grant_vm_access("vm1", path)
    return files

async def running_vm():
    disk, guest_state, runtime_state = await vm_files()
    vm = await ComputeSystem.create("vm1", builders.uefi_vm(
        vhd_path=str(disk),
        guest_state_file=str(guest_state),
        runtime_state_file=str(runtime_state),
        hv_socket=builders.hv_socket_config(services={str(SERVICE_ID): None}),
        guest_connection=True,
    ))
    await vm.start()
    return vm
""",
    # NOTIFY (issue 17)
    "reference/hcn.md": "import aiohcs.hcn as hcn",
}

#: Each block's own setup (the systems it talks about), check and expectations.
SPECS: dict[str, Spec] = {
    "index.md:1": Spec(
        setup="config = CONFIG\ntg.start_soon(end_when_running, 'vm1', 'terminate')",
        output=("SystemExited",),
    ),
    "concepts.md:1": Spec(
        setup="vm = await ComputeSystem.create('vm1', builders.empty_vm())\nawait vm.start()",
        check="assert (await vm.properties()).state == 'Paused'",
    ),
    "quickstart.md:1": Spec(how="script"),
    "guides/fork.md:1": Spec(how="script", posix_only="fork"),
    "quickstart.md:2": Spec(posix_only=POSIX_COMMANDS, how="script", output=("0 b'hello\\n'",)),
    "quickstart.md:3": Spec(how="windows"),
    "guides/lifecycle.md:1": Spec(
        check="assert status.exit_type == 'GracefulExit'\n"
        "assert isinstance(vm.exit_event, SystemExited)",
    ),
    "guides/lifecycle.md:2": Spec(
        check="assert config.should_terminate_on_last_handle_closed is True\n"
        "assert builders.empty_vm().should_terminate_on_last_handle_closed is True",
    ),
    "guides/lifecycle.md:3": Spec(
        setup="vm = await ComputeSystem.create('mine', builders.empty_vm(owner='my-service'))\n"
        "other = await ComputeSystem.create('not-mine', builders.empty_vm(owner='other'))\n"
        "await vm.start()",
        check="assert props.memory is not None\n"
        "assert props.statistics is not None\n"
        "assert [p.id for p in await enumerate_systems({'Owners': ['my-service']})] == ['mine']",
        output=("mine VirtualMachine Running",),
    ),
    "guides/lifecycle.md:4": Spec(
        setup="config = builders.empty_vm()",
        check="assert vm.namespace == 'tenant-a'\n"
        "assert [p.id for p in await enumerate_systems(namespace='tenant-a')] == ['vm1']\n"
        "assert await enumerate_systems() == []",
    ),
    "guides/lifecycle.md:5": Spec(
        setup="config = builders.empty_vm().to_dict()\n"
        "config['VirtualMachine']['Devices']['Scsi'] = {'0': {}}\n"
        "vm = await ComputeSystem.create('vm1', config)\nawait vm.start()\n"
        "(tmp_path / 'data.vhdx').write_bytes(b'')\nvhd_path = str(tmp_path / 'data.vhdx')",
        check="assert (await vm.properties()).state == 'Running'",
    ),
    "guides/events.md:1": Spec(
        setup="vm = await ComputeSystem.create('vm1', CONFIG)\nawait vm.start()\n"
        "tg.start_soon(end_when_running, 'vm1', 'crash')",
        output=("SystemCrashInitiated", "SystemCrashReport", "SystemExited"),
    ),
    "guides/events.md:2": Spec(
        setup="vm = await ComputeSystem.create('vm1', CONFIG)\nawait vm.start()",
        check="assert shared.waiting == 0\n"
        "assert isinstance(vm.exit_event, SystemExited)\n"
        "assert len(seen) == 3",
    ),
    "guides/events.md:3": Spec(
        setup="vm = await ComputeSystem.create('vm1', CONFIG)\nawait vm.start()\n"
        "await vm.terminate()",
        check="assert status.exit_type == 'ForcedExit'\n"
        "assert isinstance(vm.exit_event, SystemExited)",
    ),
    "guides/events.md:4": Spec(
        # The block is an excerpt: give the watcher what the example's __init__ and report()
        # do, then let it find a system, follow it and see its exit.
        check="""
watcher = Watcher()
watcher.seen = set()
watcher.report = lambda system_id, event: seen_events.append((system_id, event))
seen_events = []
async with anyio.create_task_group() as watching:
    watching.start_soon(watcher.poll, watching, 0.01)
    async with await ComputeSystem.create("w1", CONFIG) as w1:
        await w1.start()
        with anyio.fail_after(10):
            while "w1" not in watcher.seen:
                await anyio.sleep(0.01)
        await w1.terminate()
    with anyio.fail_after(10):
        while not any(isinstance(e, SystemExited) for _, e in seen_events):
            await anyio.sleep(0.01)
    watching.cancel_scope.cancel()
assert [s for s, _ in seen_events] == ["w1"]
""",
    ),
    "guides/processes.md:1": Spec(posix_only=POSIX_COMMANDS, setup=CONTAINER, output=("0 hello",)),
    "guides/processes.md:2": Spec(how="windows"),
    "guides/processes.md:3": Spec(
        posix_only=POSIX_COMMANDS,
        setup=CONTAINER,
        check="assert code == 0\nassert proc.returncode == 0",
        output=("HELLO",),
    ),
    "guides/processes.md:4": Spec(
        posix_only=POSIX_COMMANDS, setup=CONTAINER, check="assert done.returncode == 0"
    ),
    "guides/processes.md:5": Spec(
        posix_only=POSIX_COMMANDS,
        setup=CONTAINER,
        check="assert done.returncode == 0\nassert document['OciProcess'] is oci",
        output=("pass no command with it",),
    ),
    "guides/processes.md:6": Spec(
        posix_only=POSIX_COMMANDS,
        setup="system = await started_container()\n"
        "proc = await system.open_process(['sleep', '30'])",
        check="assert await proc.wait() != 0\nassert await proc.kill() is False",
    ),
    "guides/save-restore.md:1": Spec(
        setup="state_file = str(tmp_path / 'vm1.vmrs')",
        check="import os\nassert os.path.getsize(state_file) > 0",
        output=("Running",),
    ),
    "guides/save-restore.md:2": Spec(
        setup="template = await ComputeSystem.create('template', config)\nawait template.start()",
        check="assert (await template.properties()).state == 'SavedAsTemplate'",
        output=("template",),
    ),
    "guides/progress-and-migration.md:1": Spec(
        setup="vm = await ComputeSystem.create('vm1', config)\nawait vm.start()\n"
        "await vm.pause()\nstate_file = str(tmp_path / 'vm1.vmrs')",
        check="await vm.terminate()\nawait vm.aclose()",
        output=("saved",),
    ),
    "guides/progress-and-migration.md:2": Spec(output=("Running", "Stopped")),
    "guides/progress-and-migration.md:3": Spec(
        setup="source = await ComputeSystem.create('vm1', config)\nawait source.start()",
        check="await source.wait()\nawait source.aclose()",
        output=("Running",),
    ),
    "guides/errors.md:1": Spec(
        setup="vm = await ComputeSystem.create('vm1', CONFIG)\nawait vm.start()",
    ),
    "guides/errors.md:2": Spec(),
    "guides/errors.md:3": Spec(output=("not sent to HCS: id must not be empty",)),
    "guides/errors.md:4": Spec(
        setup="vm = await ComputeSystem.create('vm1', CONFIG)\nawait vm.start()\n"
        "aiohcs.testing.crash_system(vm)",
        output=("0x80370106 UnexpectedExit",),
    ),
    "guides/errors.md:5": Spec(
        posix_only=POSIX_COMMANDS,
        # hcsim refuses the next terminate as a guest might refuse it for a running process.
        setup="system = await started_container()\n"
        "proc = await system.open_process(['sleep', '30'])\n"
        "aiohcs.testing.fail_next('HcsTerminateProcess', aiohcs.AccessDenied)",
        check="assert await proc.kill() is True\nassert await proc.wait() != 0",
    ),
    "guides/cancellation.md:1": Spec(
        setup="vm = await ComputeSystem.create('vm1', builders.empty_vm())\n"
        "tg.start_soon(end_when_running, 'vm1', 'guest_shutdown')",
        check="assert status.exit_type == 'GracefulExit'",
    ),
    "guides/cancellation.md:2": Spec(
        setup="vm = await ComputeSystem.create('vm1', builders.empty_vm())\n"
        "await vm.start()\nawait vm.pause()\npath = str(tmp_path / 'vm1.vmrs')",
        check="import os\nassert os.path.getsize(path) > 0",
        backends=("asyncio",),
    ),
    "guides/asyncio-server.md:1": Spec(
        # Serve nothing: enter and leave the lifespan around one adopted system; leaving it
        # closes the handles, and the system keeps running.
        check="""
app = types.SimpleNamespace(state=types.SimpleNamespace())
async with lifespan(app):
    system = await app.state.systems.adopt(await ComputeSystem.create("s1", CONFIG))
    await system.start()
assert [(p.id, p.state) for p in await enumerate_systems()] == [("s1", "Running")]
""",
    ),
    "guides/host-resources.md:1": Spec(
        setup="disk = tmp_path / 'os.vhdx'\nsmall = tmp_path / 'small.vhdx'",
        check="assert small.stat().st_size >= 64 << 20",
        output=("10737418240", "\\\\.\\PhysicalDrive"),
    ),
    "guides/host-resources.md:2": Spec(
        setup="disk = tmp_path / 'os.vhdx'\nawait vhd.create_vhdx(disk, 64 << 20)\n"
        "guest_state = tmp_path / 'vm1.vmgs'\nruntime_state = tmp_path / 'vm1.vmrs'",
        check="assert guest_state.exists() and runtime_state.exists()",
    ),
    "guides/host-resources.md:3": Spec(
        setup="disk, guest_state, runtime_state = await vm_files()", output=("Running",)
    ),
    "guides/host-resources.md:4": Spec(
        setup="vm = await running_vm()\n"
        "guest = await vm.open_process([sys.executable, '-c', UPPER], stdin=None)\n"
        "await guest.stdout.receive()",
        check="assert (await guest.wait()) == 0",
        output=("PING",),
    ),
    "guides/host-resources.md:5": Spec(setup="vm = await running_vm()", output=("PING",)),
    "guides/host-resources.md:6": Spec(
        setup="base, scratch = tmp_path / 'base', tmp_path / 'scratch'\n"
        "unpacked_base = tmp_path / 'unpacked'\n(unpacked_base / 'Files').mkdir(parents=True)\n"
        "base_id = uuid.uuid4()",
        check="assert base.is_dir() and not scratch.exists()",
    ),
    "guides/testing-with-hcsim.md:1": Spec(how="pytest"),
    "guides/testing-with-hcsim.md:2": Spec(how="pytest"),
    "guides/testing-with-hcsim.md:3": Spec(how="sync"),
    "guides/testing-with-hcsim.md:4": Spec(how="windows"),
    "guides/testing-with-hcsim.md:5": Spec(how="sync"),
    # NOTIFY (issue 17): the notification and guest network service examples.
    "reference/hcn.md:1": Spec(output=("NetworkCreated", "EndpointAttached", "NetworkDeleted")),
    "reference/hcn.md:2": Spec(),
    # CLI+DOCS (issue 17): the networking guide.
    "guides/networking.md:1": Spec(
        setup="layers, scratch_path = [r'C:\\layers\\base'], r'C:\\scratch'",
        check="assert await hcn.enumerate_endpoints() == []\n"
        "assert await hcn.enumerate_namespaces() == []\n"
        "assert await hcn.enumerate_networks() == []",
    ),
    "guides/networking.md:2": Spec(check="assert await hcn.enumerate_networks() == []"),
    "guides/networking.md:3": Spec(),
    "guides/networking.md:4": Spec(
        setup="network = await hcn.create_nat_network('small', '10.20.0.0/29')",
        check="assert len(await hcn.enumerate_endpoints()) == 5",
        output=("pool exhausted: True",),
    ),
    "guides/networking.md:5": Spec(
        setup=A_NETWORK + "endpoint = await network.create_endpoint()",
        check="joined = (await endpoint.properties()).host_compute_namespace\n"
        "assert str(joined) == str(namespace.id)",
        output=("Running",),
    ),
    "guides/networking.md:6": Spec(
        setup=A_NETWORK + "web = await network.create_endpoint()\n"
        "db = await network.create_endpoint()",
        check="assert await hcn.enumerate_load_balancers() == []\n"
        "assert await hcn.enumerate_endpoints() == [db.id]",
        output=("still behind a load balancer",),
    ),
    "guides/networking.md:7": Spec(output=("NetworkCreated True", "NetworkDeleted True")),
    "guides/networking.md:8": Spec(
        check="assert await hcn.enumerate_port_reservations() == []", output=("1\n4\n",)
    ),
    "guides/networking.md:9": Spec(setup=RUNNING_VM + A_NETWORK, output=("True",)),
    "guides/networking.md:10": Spec(
        setup=A_NETWORK,
        check="assert (await system.properties()).state == 'Created'",
        output=("True\nCreated",),
    ),
}


# ---------------------------------------------------------------- reading the docs


#: A ```python block and the line before its fence.
_BLOCK = re.compile(r"^(?P<before>[^\n]*)\n```python\n(?P<code>.*?)^```", flags=re.S | re.M)
#: The Windows-only marker, on the line before a block's fence.
WINDOWS_ONLY = re.compile(r"^<!-- windows-only: (?P<reason>\S.*\S) -->$")


def python_blocks(page: str) -> list[tuple[str, str]]:
    """The ```python blocks of a docs page, in order: (code, the line before the fence)."""
    text = "\n" + (DOCS / page).read_text(encoding="utf-8")
    return [(m["code"], m["before"].rsplit("\n", 1)[-1]) for m in _BLOCK.finditer(text)]


def _pages() -> list[str]:
    return [page.relative_to(DOCS).as_posix() for page in sorted(DOCS.rglob("*.md"))]


def all_blocks() -> dict[str, str]:
    """Every ```python block under docs/, keyed ``page:N``."""
    return {
        f"{page}:{n}": code
        for page in _pages()
        for n, (code, _) in enumerate(python_blocks(page), 1)
    }


def windows_only_blocks() -> dict[str, str]:
    """The blocks marked Windows-only in their page → the reason the marker gives."""
    found = {}
    for page in _pages():
        for n, (_, before) in enumerate(python_blocks(page), 1):
            marker = WINDOWS_ONLY.match(before)
            if marker is not None:
                found[f"{page}:{n}"] = marker["reason"]
            else:
                assert "windows-only" not in before, f"{page}:{n}: malformed marker {before!r}"
    return found


BLOCKS = all_blocks()
SYNC = [key for key, spec in SPECS.items() if spec.how == "sync"]
RUN = [
    (key, backend) for key, spec in SPECS.items() if spec.how == "run" for backend in spec.backends
]


def _params(keys: list[Any]) -> list[Any]:
    """``keys`` (a key, or a (key, backend) pair) as parameters, POSIX-only ones marked."""
    params = []
    for item in keys:
        key = item[0] if isinstance(item, tuple) else item
        reason = SPECS[key].posix_only
        marks = [pytest.mark.posix_only(reason)] if reason else []
        values = item if isinstance(item, tuple) else (item,)
        params.append(pytest.param(*values, marks=marks, id="-".join(values)))
    return params


def block(key: str) -> str:
    """The block's code, as written in the page."""
    return BLOCKS[key]


def test_every_block_has_a_spec() -> None:
    assert sorted(BLOCKS) == sorted(SPECS)
    assert {key.rsplit(":", 1)[0] for key in BLOCKS} <= set(PRELUDES)


def test_only_blocks_marked_windows_only_in_the_page_are_not_run() -> None:
    """A block that does not run on hcsim says so where readers see it, and only then."""
    marked = windows_only_blocks()
    assert marked, "the marker is recognised"
    not_run = {key for key, spec in SPECS.items() if spec.how == "windows"}
    assert not_run == set(marked)
    for key, reason in marked.items():
        assert len(reason) > 10, key


def test_a_marker_is_only_recognised_right_before_the_fence(tmp_path: Path) -> None:
    text = (
        "<!-- windows-only: needs cmd.exe -->\n```python\nx = 1\n```\n\n"
        "<!-- windows-only: needs cmd.exe -->\n\n```python\ny = 2\n```\n"
    )
    blocks = [(m["code"], m["before"].rsplit("\n", 1)[-1]) for m in _BLOCK.finditer("\n" + text)]
    assert [bool(WINDOWS_ONLY.match(before)) for _, before in blocks] == [True, False]


# ---------------------------------------------------------------- names used exist


def _resolve_aiohcs(dotted: str) -> None:
    """Get ``aiohcs.a.b.c`` attribute by attribute, importing submodules as needed."""
    obj: Any = aiohcs
    parts = dotted.split(".")
    for i, part in enumerate(parts[1:], 2):
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif isinstance(obj, ModuleType):
            obj = importlib.import_module(".".join(parts[:i]))  # ImportError if none
        else:
            raise AttributeError(f"{'.'.join(parts[: i - 1])} has no attribute {part!r}")


def check_names(code: str) -> None:
    """Raise AttributeError/ImportError for an ``aiohcs`` name ``code`` uses that is missing."""
    for name in aiohcs_names(code):
        _resolve_aiohcs(name)


def aiohcs_names(code: str) -> list[str]:
    """Every ``aiohcs...`` name the code imports or uses as ``aiohcs.X.Y``."""
    tree = ast.parse(code)
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "aiohcs":
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.split(".")[0] == "aiohcs"]
        elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Store):
            parts: list[str] = []
            value: ast.expr = node
            while isinstance(value, ast.Attribute):
                parts.insert(0, value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id == "aiohcs":
                names.append(".".join(["aiohcs", *parts]))
    return names


@pytest.mark.parametrize("key", sorted(BLOCKS))
def test_block_compiles_and_its_aiohcs_names_exist(key: str) -> None:
    code = BLOCKS[key]
    compile(code, key, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    check_names(code)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("import aiohcs\naiohcs.ComputeSystem.strat", AttributeError),
        ("aiohcs.errors.NoSuchError", ImportError),
        ("from aiohcs.system import ComputerSystem", ImportError),
        ("import aiohcs.nosuchmodule", ImportError),
    ],
)
def test_a_wrong_name_is_found(code: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_names(code)


# ---------------------------------------------------------------- claims in comments


def _comments(code: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return {t.start[0]: t.string[1:].strip() for t in tokens if t.type == tokenize.COMMENT}


def _literal(text: str) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return False, None


class _Claims(ast.NodeTransformer):
    """``expr  # literal`` → ``__claim__(n, expr, literal)`` (print calls excepted)."""

    def __init__(self, comments: dict[int, str]) -> None:
        self.comments = comments
        self.expected: list[Any] = []

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        comment = self.comments.get(node.end_lineno or node.lineno)
        call = node.value
        is_print = isinstance(call, ast.Call) and getattr(call.func, "id", None) == "print"
        ok, value = _literal(comment) if comment else (False, None)
        if not ok or is_print:
            return node
        self.expected.append(value)
        claim = ast.Call(
            func=ast.Name("__claim__", ast.Load()),
            args=[ast.Constant(len(self.expected) - 1), node.value],
            keywords=[],
        )
        return ast.copy_location(ast.Expr(claim), node)


def with_claims(code: str, name: str) -> tuple[Any, list[Any]]:
    """The code compiled with its claims rewritten, and the claimed values."""
    tree = ast.parse(code)
    claims = _Claims(_comments(code))
    tree = ast.fix_missing_locations(claims.visit(tree))
    return compile(tree, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), claims.expected


async def execute(code: Any, namespace: dict[str, Any]) -> None:
    """Run compiled top-level-await code in ``namespace``."""
    result = eval(code, namespace)  # the documentation's own code
    if result is not None:
        await result


def test_claims_are_found_and_checked() -> None:
    code, expected = with_claims("x = 2\nx  # 2\nx + 1  # 'three'\nprint(x)  # 2\nx  # two\n", "t")
    assert expected == [2, "three"]
    seen: dict[int, Any] = {}
    eval(code, {"__claim__": seen.__setitem__})
    assert seen == {0: 2, 1: 3}


# ---------------------------------------------------------------- running blocks


def load_example(name: str) -> Any:
    """Import ``examples/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def started_container(system_id: str = "c1") -> ComputeSystem:
    """A running process-isolated container (hcsim runs its processes on the host)."""
    system = await ComputeSystem.create(system_id, helpers.CONTAINER)
    await system.start()
    return system


async def end_when_running(system_id: str, how: str) -> None:
    """Background task: once ``system_id`` runs, end it (``terminate``, ``crash``, ...)."""
    from aiohcs import testing

    with anyio.fail_after(10):
        while [p.state for p in await enumerate_systems({"Ids": [system_id]})] != ["Running"]:
            await anyio.sleep(0.01)
    if how == "guest_shutdown":
        testing.guest_shutdown(system_id)
        return
    async with await ComputeSystem.open(system_id) as system:
        await getattr(system, how)()


async def clean_up(namespace: dict[str, Any]) -> None:
    """Kill the block's processes, end its systems, close its handles."""
    for value in namespace.values():
        if isinstance(value, Process):
            with contextlib.suppress(aiohcs.HcsError):
                await value.kill()
            await value.aclose()
    for value in namespace.values():
        if isinstance(value, ComputeSystem):
            with contextlib.suppress(aiohcs.HcsError):
                await value.terminate()
            await value.aclose()
    for props in await enumerate_systems():
        with contextlib.suppress(aiohcs.SystemNotFound, aiohcs.SystemAlreadyStopped):
            async with await ComputeSystem.open(str(props.id)) as system:
                await system.terminate()
    for value in namespace.values():  # (HCN handles; the objects go with hcsim's reset)
        if isinstance(value, HcnObject):
            await value.aclose()


def compile_await(code: str, name: str) -> Any:
    """Compile module code in which ``await``, ``async for`` and ``async with`` may be top-level."""
    return compile(code, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


class BlockRun:
    """One run of a block: its namespace, its four parts in order, what it claimed and printed."""

    def __init__(self, key: str, tmp_path: Path) -> None:
        self.key = key
        self.spec = SPECS[key]
        code, self.expected = with_claims(block(key), key)
        self.parts = [
            compile_await(PRELUDES[key.rsplit(":", 1)[0]], f"{key} prelude"),
            compile_await(self.spec.setup, f"{key} setup"),
            code,
            compile_await(self.spec.check, f"{key} check"),
        ]
        self.seen: dict[int, Any] = {}
        self.out = io.StringIO()
        self.namespace: dict[str, Any] = {
            "__name__": "docs_snippet",
            "__claim__": self.claim,
            "tmp_path": tmp_path,
            "load_example": load_example,
            "started_container": started_container,
            "end_when_running": end_when_running,
        }

    def claim(self, index: int, value: Any) -> None:
        """A claim was reached: its value must be the one the text gives."""
        wanted = self.expected[index]
        assert value == wanted, f"{self.key}: {value!r}, the text says {wanted!r}"
        self.seen[index] = value

    def verify(self) -> None:
        """Every claim was reached, and the block printed what the spec expects."""
        assert sorted(self.seen) == list(range(len(self.expected))), "claims not reached"
        printed = self.out.getvalue()
        for text in self.spec.output:
            assert text in printed, f"{self.key} printed {printed!r}, not {text!r}"


async def run_block(key: str, tmp_path: Path) -> None:
    """Run the prelude, setup, block and check of ``key`` in one task group, then clean up."""
    run = BlockRun(key, tmp_path)
    async with anyio.create_task_group() as tg:
        run.namespace["tg"] = tg
        try:
            with contextlib.redirect_stdout(run.out), anyio.fail_after(60):
                for code in run.parts:
                    await execute(code, run.namespace)
        finally:
            with anyio.CancelScope(shield=True):
                await clean_up(run.namespace)
            tg.cancel_scope.cancel()
    run.verify()


@pytest.mark.parametrize(("key", "backend"), _params(RUN))
def test_block_runs(key: str, backend: str, tmp_path: Path) -> None:
    anyio.run(run_block, key, tmp_path, backend=backend)


@pytest.mark.parametrize("key", SYNC)
def test_synchronous_block_runs(key: str, tmp_path: Path) -> None:
    run = BlockRun(key, tmp_path)
    with contextlib.redirect_stdout(run.out):
        for code in run.parts:
            assert eval(code, run.namespace) is None  # no top-level await in it
    run.verify()


# ---------------------------------------------------------------- whole programs


LEAVES_A_SYSTEM = """
import anyio

from aiohcs import ComputeSystem


def test_leaves_a_system_behind() -> None:
    config = {"SchemaVersion": {"Major": 2, "Minor": 1}, "Container": {}}
    anyio.run(ComputeSystem.create, "left-behind", config)
"""


def test_testing_guide_module_and_conftest_work_under_pytest(tmp_path: Path) -> None:
    """The example module passes; with the conftest fragment, every test is leak-checked."""
    assert SPECS["guides/testing-with-hcsim.md:1"].how == "pytest"
    assert SPECS["guides/testing-with-hcsim.md:2"].how == "pytest"
    (tmp_path / "test_from_docs.py").write_text(BLOCKS["guides/testing-with-hcsim.md:1"])
    (tmp_path / "conftest.py").write_text(BLOCKS["guides/testing-with-hcsim.md:2"])
    # This test does not ask for the hcsim fixture: only the conftest's autouse one finds it.
    (tmp_path / "test_leak.py").write_text(LEAVES_A_SYSTEM)
    result = run_child(
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "hcsim_settle=1",
        cwd=tmp_path,
        timeout=TIMEOUT,
    )
    assert "4 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "ERROR at teardown of test_leaves_a_system_behind" in result.stdout


def _run_program(key: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert SPECS[key].how == "script"
    script = tmp_path / "program.py"
    script.write_text(BLOCKS[key])
    result = run_child(str(script), cwd=tmp_path, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("key", _params([k for k, s in SPECS.items() if s.how == "script"]))
def test_program_runs_as_written(key: str, tmp_path: Path) -> None:
    result = _run_program(key, tmp_path)
    for text in SPECS[key].output:
        assert text in result.stdout, result.stdout


def test_readme_program_runs_as_written(tmp_path: Path) -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    (program,) = re.findall(r"^```python\n(.*?)^```", readme, flags=re.S | re.M)
    script = tmp_path / "readme.py"
    script.write_text(program)
    result = run_child(str(script), cwd=tmp_path, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "SystemExited(type=0x1, data={'Status': 0, 'ExitType': 'ForcedExit'"
    )


def test_quickstart_program_runs(tmp_path: Path) -> None:
    lines = _run_program("quickstart.md:1", tmp_path).stdout.splitlines()
    assert lines[0] == "Running"
    assert "'ExitType': 'ForcedExit'" in lines[1]


def test_cli_page_lists_every_command() -> None:
    from aiohcs.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert sub.choices is not None
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [name for name in sub.choices if f"`aiohcs {name}" not in text]
    assert not missing
