"""An asyncio HTTP service over aiohcs: Starlette on uvicorn, events as server-sent events.

Run it::

    python examples/http_service.py --port 8080

and talk to it::

    curl -X POST localhost:8080/systems -d '{"id": "c1", "config": {...}, "start": true}'
    curl localhost:8080/systems
    curl -X POST localhost:8080/systems/c1/exec -d '{"command": ["cmd.exe", "/c", "ver"]}'
    curl -N localhost:8080/events            # server-sent events, one per HCS event
    curl -X POST localhost:8080/systems/c1/terminate

The service keeps a handle to every system it created or touched; one task per handle
forwards that system's events to every connected event client. A client that falls more
than ``CLIENT_BUFFER`` events behind is disconnected rather than slowing the others down.
On the emulator (Linux, macOS) the systems live inside this server process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import uvicorn
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aiohcs import errors
from aiohcs.events import Event
from aiohcs.system import ComputeSystem, enumerate_systems

CLIENT_BUFFER = 256
ACTIONS = ("start", "pause", "resume", "shutdown", "terminate")


class Systems:
    """The handles this service holds and the event clients it feeds."""

    def __init__(self, tg: TaskGroup) -> None:
        self._tg = tg
        self._handles: dict[str, ComputeSystem] = {}
        self._users: dict[ComputeSystem, int] = {}
        self._clients: set[MemoryObjectSendStream[dict[str, Any]]] = set()

    async def adopt(self, system: ComputeSystem) -> ComputeSystem:
        """Keep ``system``'s handle and forward its events."""
        self._handles[system.id] = system
        stream = system.events()  # subscribed before anything else can happen
        self._tg.start_soon(self._forward, system, stream)
        return system

    @contextlib.asynccontextmanager
    async def use(self, system_id: str) -> AsyncIterator[ComputeSystem]:
        """The handle of ``system_id`` (opened and adopted on first use) for one request.

        A handle whose system exited is closed once no request is using it any more.
        """
        system = self._handles.get(system_id)
        if system is None:
            system = await self.adopt(await ComputeSystem.open(system_id))
        self._users[system] = self._users.get(system, 0) + 1
        try:
            yield system
        finally:
            self._users[system] -= 1
            await self._release(system)

    async def _release(self, system: ComputeSystem) -> None:
        if self._users.get(system) or self._handles.get(system.id) is system:
            return
        self._users.pop(system, None)
        await system.aclose()

    async def _forward(self, system: ComputeSystem, stream: Any) -> None:
        async with stream:
            async for event in stream:
                self.publish(system.id, event)
        # The system exited (or its handle was closed): let the handle go.
        if self._handles.get(system.id) is system:
            del self._handles[system.id]
        await self._release(system)

    def publish(self, system_id: str, event: Event) -> None:
        """Send one event to every client; drop clients that cannot keep up."""
        message = {"system": system_id, "event": type(event).__name__, "data": event.data}
        for client in list(self._clients):
            try:
                client.send_nowait(message)
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._clients.discard(client)
                client.close()

    @contextlib.contextmanager
    def client(self) -> Any:
        """A receive stream of event messages for one client, for the block."""
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](CLIENT_BUFFER)
        self._clients.add(send)
        try:
            with receive:
                yield receive
        finally:
            self._clients.discard(send)
            send.close()

    async def aclose(self) -> None:
        """Close every handle (the systems keep running)."""
        for system in list(self._handles.values()):
            await system.aclose()
        self._handles.clear()


# ------------------------------------------------------------------------ HTTP


def _systems(request: Request) -> Systems:
    systems: Systems = request.app.state.systems
    return systems


def _error(exc: Exception) -> JSONResponse:
    conflicts = (
        errors.InvalidState,
        errors.SystemAlreadyExists,
        errors.SystemAlreadyStopped,
        errors.ProcessAlreadyStopped,
    )
    status = 500
    if isinstance(exc, errors.SystemNotFound):
        status = 404
    elif isinstance(exc, conflicts):
        status = 409
    elif isinstance(exc, (errors.InvalidJson, errors.InvalidArgumentError, ValueError)):
        status = 400
    body: dict[str, Any] = {"error": str(exc)}
    if isinstance(exc, errors.HcsError):
        body["hresult"] = f"0x{exc.hresult:08X}"
    return JSONResponse(body, status_code=status)


async def _state(system: ComputeSystem) -> dict[str, Any]:
    props = await system.properties()
    return {"Id": system.id, "State": props.state}


async def list_systems(request: Request) -> Response:
    """GET /systems: every system HCS reports."""
    try:
        return JSONResponse([props.to_dict() for props in await enumerate_systems()])
    except errors.HcsError as exc:
        return _error(exc)


async def create_system(request: Request) -> Response:
    """POST /systems {"id", "config", "start"?}: create (and start) a system."""
    try:
        body = await request.json()
        systems = _systems(request)
        await systems.adopt(await ComputeSystem.create(body["id"], body["config"]))
        async with systems.use(body["id"]) as system:
            if body.get("start"):
                await system.start()
            return JSONResponse(await _state(system), status_code=201)
    except (errors.HcsError, ValueError, KeyError, TypeError) as exc:
        return _error(ValueError(f"bad request: {exc}") if isinstance(exc, KeyError) else exc)


async def inspect_system(request: Request) -> Response:
    """GET /systems/{id}: the system's properties."""
    try:
        async with _systems(request).use(request.path_params["id"]) as system:
            return JSONResponse((await system.properties()).to_dict())
    except errors.HcsError as exc:
        return _error(exc)


async def act(request: Request) -> Response:
    """POST /systems/{id}/{action}: start, pause, resume, shutdown, terminate."""
    action = request.path_params["action"]
    if action not in ACTIONS:
        return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)
    try:
        async with _systems(request).use(request.path_params["id"]) as system:
            await getattr(system, action)()
            return JSONResponse(await _state(system))
    except errors.HcsError as exc:
        return _error(exc)


async def exec_in(request: Request) -> Response:
    """POST /systems/{id}/exec {"command": [...], "input"?: str}: run a process to the end."""
    try:
        body = await request.json()
        data = body.get("input")
        async with _systems(request).use(request.path_params["id"]) as system:
            done = await system.run_process(
                body["command"],
                input=data.encode() if isinstance(data, str) else None,
                check=False,
            )
        return JSONResponse(
            {
                "exit_code": done.returncode,
                "stdout": (done.stdout or b"").decode(errors="replace"),
                "stderr": (done.stderr or b"").decode(errors="replace"),
            }
        )
    except (errors.HcsError, ValueError, KeyError, TypeError) as exc:
        return _error(ValueError(f"bad request: {exc}") if isinstance(exc, KeyError) else exc)


async def events(request: Request) -> Response:
    """GET /events: server-sent events, one per HCS event of any system this service holds."""
    systems = _systems(request)

    async def stream() -> AsyncIterator[str]:
        with systems.client() as messages:
            yield ": connected\n\n"  # the subscription is live from here on
            async for message in messages:
                yield f"event: {message['event']}\ndata: {json.dumps(message)}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Hold the task group that forwards events; close every handle at shutdown."""
    async with anyio.create_task_group() as tg:
        app.state.systems = systems = Systems(tg)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await systems.aclose()
            tg.cancel_scope.cancel()


app = Starlette(
    routes=[
        Route("/systems", list_systems, methods=["GET"]),
        Route("/systems", create_system, methods=["POST"]),
        Route("/systems/{id}", inspect_system, methods=["GET"]),
        Route("/systems/{id}/exec", exec_in, methods=["POST"]),
        Route("/systems/{id}/{action}", act, methods=["POST"]),
        Route("/events", events, methods=["GET"]),
    ],
    lifespan=lifespan,
)


def main() -> None:
    """Serve on --host/--port (port 0: any free port); print the address once listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        print(f"listening on http://{host}:{port}", flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
