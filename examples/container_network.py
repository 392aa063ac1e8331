"""Give a container a network: a NAT network, an endpoint, a namespace, then the container.

    python examples/container_network.py [--prefix 172.31.0.0/24] [--ip ADDR] [--hold]

Creates a NAT network, an endpoint on it (the next free address, or ``--ip``), a namespace
holding the endpoint, and a container whose configuration names both; starts it, runs a
process in it, and removes everything again: on success, on an error and on Ctrl-C alike
(``--hold`` waits for Ctrl-C once the process has run). Each step is printed as ``- ...``.

On Windows point the container at real image layers; on hcsim it runs as is, and the
process runs on the host: hcsim keeps the network's books (addresses, references) but
gives its processes no connectivity of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

import aiohcs.hcn as hcn
from aiohcs import ComputeSystem, HcsError
from aiohcs.errors import InvalidArgumentError
from aiohcs.testing import is_available as on_hcsim

SYSTEM_ID = "net-demo"
EXIT_INTERRUPTED = 130
#: The ids of the HCN objects the walk-through made (checked for leftovers at the end).
MADE: list[Any] = []


def step(text: str) -> None:
    """Print one step of the walk-through."""
    print(f"- {text}", flush=True)


def container_config(namespace: hcn.Namespace, endpoint: hcn.Endpoint) -> dict[str, Any]:
    """A process-isolated container in ``namespace`` with an adapter for ``endpoint``."""
    return {
        "SchemaVersion": {"Major": 2, "Minor": 1},
        "Owner": "container-network-example",
        "Container": {
            "Storage": {"Layers": []},  # (on Windows: the image's layers and a scratch path)
            "Networking": {
                "Namespace": str(namespace.id),
                "NetworkAdapters": [str(endpoint.id)],
            },
        },
    }


def command() -> list[str]:
    """A command the container has: this Python on hcsim (a host process), else ipconfig."""
    if on_hcsim():
        return [sys.executable, "-c", "print('hello from the container')"]
    return ["cmd.exe", "/c", "ipconfig"]


@contextlib.asynccontextmanager
async def undo(what: str, action: Callable[[], Awaitable[Any]]) -> AsyncIterator[None]:
    """Run ``action`` when the block ends, however it ends (shielded from cancellation)."""
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await action()
            except HcsError as exc:  # (report it, go on cleaning up)
                step(f"could not {what}: {exc}")
            else:
                step(what)


async def walk(prefix: str, ip: str | None, hold: bool) -> None:
    """Every step; each is undone, in reverse order, when the stack unwinds."""
    async with contextlib.AsyncExitStack() as stack:

        async def made(obj: Any, what: str, action: Callable[[], Awaitable[Any]]) -> Any:
            MADE.append(obj.id)
            await stack.enter_async_context(obj)  # (closes the handle last)
            await stack.enter_async_context(undo(what, action))
            return obj

        network = await hcn.create_nat_network("container-network-example", prefix)
        await made(network, "deleted the network", network.delete)
        step(f"created NAT network {network.id} ({prefix})")

        settings = None if ip is None else {"IpConfigurations": [{"IpAddress": ip}]}
        endpoint = await network.create_endpoint(settings, Name="net-demo")
        await made(endpoint, "deleted the endpoint", endpoint.delete)
        address = (await endpoint.properties()).ip_configurations[0].ip_address
        step(f"created endpoint {endpoint.id}: {address}")

        namespace = await hcn.create_namespace()
        await made(namespace, "deleted the namespace", namespace.delete)
        step(f"created namespace {namespace.id}")
        await namespace.add_endpoint(endpoint)
        await stack.enter_async_context(
            undo(
                "took the endpoint out of the namespace",
                lambda: namespace.remove_endpoint(endpoint),
            )
        )
        step("put the endpoint in the namespace")

        system = await ComputeSystem.create(SYSTEM_ID, container_config(namespace, endpoint))
        await made(system, f"terminated {SYSTEM_ID}", system.terminate)
        step(f"created {SYSTEM_ID} with the endpoint as its network adapter")
        await system.start()
        step(f"started {SYSTEM_ID}: {(await system.properties()).state}")
        done = await system.run_process(command())
        said = done.stdout.decode(errors="replace").strip().splitlines()
        step(f"process exited {done.returncode}, said {said[0] if said else ''!r}")
        if hold:
            step("holding: press Ctrl-C to clean up")
            await anyio.sleep_forever()


async def check_nothing_left() -> None:
    """Say whether any network, endpoint or namespace the walk-through made still exists."""
    with anyio.CancelScope(shield=True):
        existing = set(await hcn.enumerate_networks())
        existing |= set(await hcn.enumerate_endpoints())
        existing |= set(await hcn.enumerate_namespaces())
    left = [str(ident) for ident in MADE if ident in existing]
    step(f"left behind: {', '.join(left)}" if left else "nothing left behind")


async def main(prefix: str, ip: str | None, hold: bool) -> int:
    """Run the walk-through; Ctrl-C cancels it (everything is undone) and exits 130."""
    interrupted = False
    async with anyio.create_task_group() as tg:

        async def on_ctrl_c() -> None:
            nonlocal interrupted
            with (
                contextlib.suppress(NotImplementedError),
                anyio.open_signal_receiver(signal.SIGINT) as signals,
            ):
                async for _ in signals:
                    interrupted = True
                    step("interrupted: cleaning up")
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(on_ctrl_c)
        try:
            await walk(prefix, ip, hold)
        except (HcsError, InvalidArgumentError) as exc:  # (everything made is undone by now)
            print(f"container_network: error: {exc}", file=sys.stderr)
            return 1
        finally:
            tg.cancel_scope.cancel()
            await check_nothing_left()
    return EXIT_INTERRUPTED if interrupted else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Give a container an HCN network.")
    parser.add_argument("--prefix", default="172.31.0.0/24", help="the NAT network's subnet")
    parser.add_argument("--ip", default=None, help="the endpoint's address (default: the next)")
    parser.add_argument("--hold", action="store_true", help="wait for Ctrl-C at the end")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    try:
        code = anyio.run(main, args.prefix, args.ip, args.hold)
    except KeyboardInterrupt:  # (no signal receiver here: the cleanup ran as the loop ended)
        code = EXIT_INTERRUPTED
    sys.exit(code)
