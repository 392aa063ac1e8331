"""The typed wrappers over hcsim's control functions (``Hcsim*`` in ``hcsim.cdef``).

They reach hcsim through ``aiohcs._native.hcsim``: compiled into the binding on POSIX, the
control exports of hcsim's computecore.dll on Windows.

Arguments are checked here, before anything reaches C: an unknown function name is an
:class:`~aiohcs.errors.InvalidArgumentError` (a ValueError) that lists the valid ones (read
from the computecore/computestorage/virtdisk declarations shipped with aiohcs), a wrong type an
:class:`~aiohcs.errors.InvalidArgumentTypeError` (a TypeError). The native binding
is imported on the first call, never at import time, so ``import aiohcs.testing`` works
on every build; on one without hcsim each call raises :class:`HcsimNotLoadedError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib.resources
import re
import sys
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from aiohcs import _json
from aiohcs._args import check_name, check_namespace
from aiohcs._hresult import HCS_FACILITY, facility
from aiohcs.errors import (
    HcsError,
    HResult,
    HResultValue,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    error_class,
    error_from_hresult,
    hresult_u32,
)

if TYPE_CHECKING:
    from aiohcs.system import ComputeSystem

#: What :func:`fail_next` accepts as the error: an :class:`~aiohcs.HResult` member or any
#: failure HRESULT as an int (signed or unsigned), an :class:`~aiohcs.HcsError` subclass
#: (its HRESULT is looked up), or an :class:`~aiohcs.HcsError` instance (its ``hresult``).
ErrorSpec: TypeAlias = "HResult | int | type[HcsError] | HcsError"
#: A compute system: its id (with ``namespace=``) or a :class:`~aiohcs.ComputeSystem`.
SystemRef: TypeAlias = "str | ComputeSystem"

#: hcsim's options (:func:`set_option`) and their valid ranges.
OPTIONS: Final[Mapping[str, tuple[int, int]]] = MappingProxyType(
    {
        "WorkerThreads": (1, 256),
        "RejectSecondCallback": (0, 1),
        "SchemaMinorVersion": (0, 100),
        "LogicalProcessorCount": (1, 1024),
        # 0 instant, 1 realistic: see aiohcs.testing.set_latency_profile
        "LatencyProfile": (0, 1),
    }
)
OptionName: TypeAlias = Literal[
    "WorkerThreads",
    "RejectSecondCallback",
    "SchemaMinorVersion",
    "LogicalProcessorCount",
    "LatencyProfile",
]

_U32_MAX: Final = 0xFFFFFFFF
_E_INVALIDARG: Final = int(HResult.E_INVALIDARG)
_ANY: Final = "*"
_CDEF_FILES: Final = (
    "computecore.cdef",
    "computecore_extra.cdef",
    "computestorage.cdef",
    "virtdisk.cdef",
    "computenetwork.cdef",
)
# "<return type> WINAPI <name> (" at the start of a declaration line.
_DECLARATION: Final = re.compile(r"^\s*(\w+(?:\s*\*)?)\s+WINAPI\s+(\w+)\s*\(", re.M)


class HcsimNotLoadedError(RuntimeError):
    """The loaded aiohcs binding is not the hcsim emulator (e.g. real HCS on Windows).

    Fault injection and the other controls exist only in the emulator build.
    """


class LeakError(AssertionError):
    """hcsim objects were still alive after the settle time (see :func:`assert_no_leaks`).

    ``leaks`` maps each non-zero counter to its value; ``counts`` is the full snapshot.
    """

    def __init__(self, leaks: Mapping[str, int], counts: Counts) -> None:
        self.leaks = dict(leaks)
        self.counts = counts
        super().__init__(f"hcsim objects left behind: {self.leaks}")


# ---------------------------------------------------------------- the native binding


def is_available() -> bool:
    """True if hcsim is the loaded binding (the controls of this module work)."""
    try:
        from aiohcs import _native
    except ImportError:
        return False
    return _native.IS_EMULATOR


def _lib() -> Any:
    """hcsim's compiled functions, or :class:`HcsimNotLoadedError`."""
    try:
        from aiohcs import _native
    except ImportError as exc:
        raise HcsimNotLoadedError(
            f"hcsim is not loaded: the aiohcs native binding cannot be imported ({exc})"
        ) from exc
    if not _native.IS_EMULATOR:
        raise HcsimNotLoadedError(
            "hcsim is not loaded: this aiohcs build talks to the real Host Compute Service "
            "(Windows); aiohcs.testing controls work only with the emulator (the hcsim build, "
            "or hcsim's computecore.dll on Windows)"
        )
    return _native.hcsim


def _wide(text: str | None) -> Any:
    from aiohcs import _native

    return _native.to_wide(text)


def _check(hr: int, what: str, *, system_id: str | None = None) -> None:
    """Raise for a failure HRESULT of a control call (E_INVALIDARG → InvalidArgumentError)."""
    if not hresult_u32(hr) & 0x80000000:
        return
    if hresult_u32(hr) == _E_INVALIDARG:
        raise InvalidArgumentError(f"hcsim rejected {what} (E_INVALIDARG)")
    raise error_from_hresult(hr, operation=what, system_id=system_id)


# ---------------------------------------------------------------- function names


@functools.cache
def _declarations() -> Mapping[str, str]:
    """Every HCS, virtdisk and HCN function declared by aiohcs → its return type."""
    package = importlib.resources.files("aiohcs").joinpath("include")
    found: dict[str, str] = {}
    for name in _CDEF_FILES:
        text = package.joinpath(name).read_text(encoding="utf-8")
        for returns, function in _DECLARATION.findall(text):
            found[function] = returns.replace(" ", "")
    return found


def function_names() -> frozenset[str]:
    """The names :func:`delay` and :func:`hide_export` accept (every HCS export aiohcs binds)."""
    return frozenset(_declarations())


def faultable_functions() -> frozenset[str]:
    """The names :func:`fail_next` accepts: the exports that return an HRESULT or a DWORD.

    The DWORD ones are the virtdisk calls: a fault makes them return its Win32 code.
    """
    return frozenset(
        name for name, returns in _declarations().items() if returns in ("HRESULT", "DWORD")
    )


def _function(function: object, valid: frozenset[str], *, allow_any: bool = True) -> bytes:
    if not isinstance(function, str):
        raise InvalidArgumentTypeError(
            f"function must be a str (an HCS export name), not {type(function).__name__}"
        )
    if function == _ANY and allow_any:
        return function.encode("ascii")
    if function not in valid:
        known = set(function_names())
        if function in known:
            reason = f"{function!r} cannot be used here (it does not return an HRESULT)"
        else:
            reason = f"unknown HCS function {function!r}"
            close = difflib.get_close_matches(function, sorted(valid), n=1)
            if close:
                reason += f" (did you mean {close[0]!r}?)"
        names = ", ".join(sorted(valid))
        raise InvalidArgumentError(f"{reason}; valid names ('*' means all): {names}")
    return function.encode("ascii")


def _bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentTypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentTypeError(f"{name} must be an int, not {type(value).__name__}")
    return int(value)


def _uint(value: object, name: str, maximum: int = _U32_MAX) -> int:
    number = _int(value, name)
    if not 0 <= number <= maximum:
        raise InvalidArgumentError(f"{name} must be between 0 and {maximum}, not {number}")
    return number


# ---------------------------------------------------------------- faults


def _hresult_of_class(cls: type[HcsError]) -> int:
    """The HRESULT that :func:`aiohcs.errors.error_from_hresult` turns into exactly ``cls``."""
    if cls is HcsError:
        return int(HResult.E_FAIL)
    # HCS's own codes first: AccessDenied → HCS_E_ACCESS_DENIED rather than E_ACCESSDENIED.
    members = sorted(HResult, key=lambda m: facility(m) != HCS_FACILITY)
    for member in members:
        if member & 0x80000000 and error_class(member) is cls:
            return int(member)
    raise InvalidArgumentError(
        f"no HRESULT maps to {cls.__name__}; pass an aiohcs.HResult member or an int instead"
    )


def _failure_hresult(error: object) -> int:
    if isinstance(error, type) and issubclass(error, HcsError):
        value = _hresult_of_class(error)
    elif isinstance(error, HcsError):
        value = error.hresult
    elif isinstance(error, int) and not isinstance(error, bool):
        if not -0x80000000 <= error <= _U32_MAX:
            raise InvalidArgumentError(f"not a 32-bit HRESULT: {error!r}")
        value = hresult_u32(error)
    else:
        raise InvalidArgumentTypeError(
            "error must be an aiohcs.HResult, an int HRESULT or an HcsError subclass, "
            f"not {type(error).__name__}"
        )
    if not value & 0x80000000:
        raise InvalidArgumentError(
            f"error must be a failure HRESULT (0x8xxxxxxx), not {HResultValue(value)}"
        )
    return HResultValue(value).signed  # C's HRESULT is a signed 32-bit int


def fail_next(
    function: str,
    error: ErrorSpec,
    *,
    count: int = 1,
    asynchronous: bool = False,
) -> None:
    """Make the next ``count`` calls of the HCS export ``function`` fail with ``error``.

    ``asynchronous=False``: the call itself returns the error. ``asynchronous=True``: the
    call succeeds and its operation completes with the error (and a ResultError
    document); for exports without an operation it is the same as ``False``.
    ``function`` may be ``"*"`` (every service and storage call); a rule for one
    function wins over ``"*"``. ``count=0`` removes the rule.
    """
    name = _function(function, faultable_functions())
    hr = _failure_hresult(error)
    n = _uint(count, "count")
    mode = 1 if _bool(asynchronous, "asynchronous") else 0
    _check(_lib().HcsimFailNext(name, n, hr, mode), f"fail_next({function!r})")


class Override:
    """A control setting already applied; :meth:`restore` (or leaving ``with``) undoes it.

    Returned by :func:`delay` and :func:`hide_export`, so that they work both as a plain
    call (the setting stays until changed or :func:`reset`) and as a context manager.
    After a :func:`reset` there is nothing left to undo: restoring then does nothing.
    """

    def __init__(self, description: str, undo: Any) -> None:
        self._description = description
        self._undo = undo
        self._restored = False
        self._generation = _generation

    def restore(self) -> None:
        """Put back what was in effect before (idempotent)."""
        if not self._restored:
            self._restored = True
            if self._generation == _generation:
                self._undo()

    def __enter__(self) -> Override:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    def __repr__(self) -> str:
        state = "restored" if self._restored else "active"
        return f"<Override {self._description} ({state})>"


# The delays set through delay(), so that an Override can put the previous one back
# (hcsim cannot be asked for its current delays). reset() clears it.
_delays: dict[str, tuple[int, int]] = {}
_delays_lock = threading.Lock()
# Counts resets: an Override from before the last reset has nothing to restore.
_generation = 0


def _set_delay(function: str, completion_ms: int, sync_ms: int) -> None:
    hr = _lib().HcsimSetDelay(function.encode("ascii"), completion_ms, sync_ms)
    _check(hr, f"delay({function!r})")
    with _delays_lock:
        if completion_ms or sync_ms:
            _delays[function] = (completion_ms, sync_ms)
        else:
            _delays.pop(function, None)


def delay(function: str, *, completion_ms: int = 0, sync_ms: int = 0) -> Override:
    """Slow down the HCS export ``function`` (``"*"``: every service and storage call).

    ``completion_ms``: its operation's work runs that much later (no thread is held).
    ``sync_ms``: the call itself blocks that long in the caller. Both 0 removes the rule
    for ``function`` (a ``"*"`` delay then applies to it).
    Applied at once; use the result as a context manager to put the previous delay back::

        with aiohcs.testing.delay("HcsStartComputeSystem", completion_ms=500):
            ...
    """
    _function(function, function_names())
    completion = _uint(completion_ms, "completion_ms")
    sync = _uint(sync_ms, "sync_ms")
    _lib()
    with _delays_lock:
        previous = _delays.get(function, (0, 0))
    _set_delay(function, completion, sync)
    return Override(
        f"delay({function!r}, completion_ms={completion}, sync_ms={sync})",
        functools.partial(_set_delay, function, *previous),
    )


def _set_hidden(function: str, hidden: bool) -> None:
    _check(_lib().HcsimSetExportHidden(function.encode("ascii"), int(hidden)), "hide_export")


def hide_export(name: str) -> Override:
    """Hide the HCS export ``name`` (``"*"``: all), imitating an older Windows build.

    aiohcs then raises :class:`~aiohcs.UnsupportedOnThisHost` for calls that need it.
    Applied at once; use the result as a context manager to show it again on exit.
    """
    _function(name, function_names())
    lib = _lib()
    names = sorted(function_names()) if name == _ANY else [name]
    hidden_before = [n for n in names if not lib.HcsimIsExportAvailable(n.encode("ascii"))]
    _set_hidden(name, True)

    def undo() -> None:
        _set_hidden(name, False)
        for n in hidden_before:
            _set_hidden(n, True)

    return Override(f"hide_export({name!r})", undo)


# ---------------------------------------------------------------- systems and the service


def _system(system: object, namespace: object) -> tuple[str, str | None]:
    ns = check_namespace(namespace)
    if isinstance(system, str):
        return check_name(system, "system id"), ns
    module = sys.modules.get("aiohcs.system")
    if module is not None and isinstance(system, module.ComputeSystem):
        if ns is not None:
            raise InvalidArgumentTypeError(
                "namespace= is taken from the ComputeSystem; do not pass it"
            )
        return system.id, system.namespace
    raise InvalidArgumentTypeError(
        f"expected a system id (str) or a ComputeSystem, not {type(system).__name__}"
    )


def crash_system(system: SystemRef, *, namespace: str | None = None) -> None:
    """The system's worker process dies: ``SystemExited`` with ``UnexpectedExit``.

    Raises :class:`~aiohcs.SystemNotFound` for an unknown or exited system.
    """
    sid, ns = _system(system, namespace)
    lib = _lib()
    _check(lib.HcsimCrashSystem(_wide(ns), _wide(sid)), "crash_system", system_id=sid)


def guest_shutdown(system: SystemRef, *, namespace: str | None = None) -> None:
    """The guest powers itself off: ``SystemExited`` GracefulExit, initiator ``GuestOS``.

    Only from Running (:class:`~aiohcs.InvalidState` otherwise).
    """
    sid, ns = _system(system, namespace)
    lib = _lib()
    _check(lib.HcsimGuestShutdown(_wide(ns), _wide(sid)), "guest_shutdown", system_id=sid)


def raise_system_event(
    system: SystemRef,
    event_type: int,
    payload: str | Mapping[str, Any] | None = None,
    *,
    namespace: str | None = None,
) -> None:
    """Deliver an event of ``event_type`` (an :class:`~aiohcs.EventType` or any int).

    Every handle of the system gets it, in order with its other events; the system's
    state does not change. ``payload`` is the event data: JSON text, a mapping (sent as
    JSON) or None.
    """
    sid, ns = _system(system, namespace)
    kind = _uint(event_type, "event_type")
    data = _payload(payload)
    lib = _lib()
    hr = lib.HcsimRaiseSystemEvent(_wide(ns), _wide(sid), kind, _wide(data))
    _check(hr, "raise_system_event", system_id=sid)


def _payload(payload: object) -> str | None:
    if payload is None or isinstance(payload, str):
        return payload
    if isinstance(payload, Mapping):
        return _json.write(payload, compact=False)
    raise InvalidArgumentTypeError(
        f"payload must be a str, a mapping or None, not {type(payload).__name__}"
    )


def disconnect_service() -> None:
    """The connection to the service drops: ``ServiceDisconnected`` everywhere.

    Pending operations fail with it, and so does every later service call until
    :func:`reset`. As a client of an hcsim service (``service_socket()`` is set) it is this
    process's connection only: the service and its other clients go on, and :func:`reset`
    reconnects.
    """
    _check(_lib().HcsimDisconnectService(), "disconnect_service")


def set_option(name: OptionName, value: int) -> None:
    """Set one of hcsim's :data:`OPTIONS` (``WorkerThreads`` only before use or after reset)."""
    option = _option(name)
    low, high = OPTIONS[option]
    number = _int(value, "value")
    if not low <= number <= high:
        raise InvalidArgumentError(f"{option} must be between {low} and {high}, not {number}")
    _check(_lib().HcsimSetOption(option.encode("ascii"), number), f"set_option({option!r})")


def _option(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidArgumentTypeError(f"name must be a str, not {type(name).__name__}")
    if name not in OPTIONS:
        raise InvalidArgumentError(
            f"unknown hcsim option {name!r}; valid names: {', '.join(OPTIONS)}"
        )
    return name


def reset() -> None:
    """Terminate every system and process, release everything, clear every fault and delay."""
    global _generation
    _check(_lib().HcsimReset(), "reset")
    with _delays_lock:
        _delays.clear()
        _generation += 1


# ---------------------------------------------------------------- counters and leaks


@dataclasses.dataclass(frozen=True)
class Counts:
    """hcsim's live-object counters at one moment (:func:`counts`)."""

    #: ``HCS_OPERATION`` handles created and not closed.
    operations: int
    #: Operations whose work has not completed yet.
    pending_operations: int
    #: Compute systems that exist (created and not yet cleaned up).
    systems: int
    #: Open ``HCS_SYSTEM`` handles.
    system_handles: int
    #: Open ``HCS_PROCESS`` handles.
    process_handles: int
    #: Host processes started and not yet reaped.
    processes: int
    #: Pipe handles handed out and not closed.
    pipe_handles: int
    #: Returned documents not yet freed.
    documents: int
    #: Virtual disk handles (:func:`aiohcs.vhd.open_vhd`) open in this process (0 on Windows,
    #: where hcsim does not see them closed).
    virtual_disks: int = 0
    #: Virtual disks attached by this process (0 on Windows, likewise).
    attached_disks: int = 0
    #: Open computenetwork handles (``HCN_NETWORK``, ``HCN_ENDPOINT``, ``HCN_NAMESPACE``,
    #: ``HCN_LOADBALANCER``, ``HCN_GUESTNETWORKSERVICE``).
    network_handles: int = 0
    #: Registered ``HCN_CALLBACK`` s (service and guest network service callbacks).
    network_callbacks: int = 0
    #: Open port reservation handles of guest network services.
    port_reservations: int = 0

    def leaks(
        self, *, allow_systems: bool = False, baseline: Counts | None = None
    ) -> dict[str, int]:
        """The :data:`LEAK_COUNTERS` (and ``systems`` unless ``allow_systems``) above zero.

        With ``baseline`` (an earlier snapshot) only what is above it counts: objects that
        were already alive then are not leaks of the code that ran since.
        """
        names = LEAK_COUNTERS if allow_systems else (*LEAK_COUNTERS, "systems")
        leaks: dict[str, int] = {}
        for name in names:
            value: int = getattr(self, name)
            if baseline is not None:
                value -= getattr(baseline, name)
            if value > 0:
                leaks[name] = value
        return leaks


#: The counters that must be back to zero when a test is done (``systems`` is checked
#: separately: :func:`assert_no_leaks` has ``allow_systems``).
LEAK_COUNTERS: Final = (
    "operations",
    "system_handles",
    "process_handles",
    "processes",
    "pipe_handles",
    "documents",
    "virtual_disks",
    "attached_disks",
    "network_handles",
    "network_callbacks",
    "port_reservations",
)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def counts() -> Counts:
    """Return hcsim's live-object counters now."""
    lib = _lib()
    from aiohcs import _native

    raw = _native.ffi.new("HCSIM_COUNTS *")
    lib.HcsimGetCounts(raw)
    fields = _native.ffi.typeof("HCSIM_COUNTS").fields
    return Counts(**{_snake(name): int(getattr(raw, name)) for name, _ in fields})


def _validate_settle(settle: object) -> float:
    if isinstance(settle, bool) or not isinstance(settle, (int, float)):
        raise InvalidArgumentTypeError(
            f"settle must be a number of seconds, not {type(settle).__name__}"
        )
    if not settle >= 0:
        raise InvalidArgumentError(f"settle must be >= 0, not {settle}")
    return float(settle)


_POLL: Final = 0.01


def assert_no_leaks(
    *, allow_systems: bool = False, settle: float = 5.0, baseline: Counts | None = None
) -> Counts:
    """Raise :class:`LeakError` if hcsim objects are still alive after ``settle`` seconds.

    Checks the :data:`LEAK_COUNTERS` and, unless ``allow_systems``, ``systems``; with
    ``baseline`` (an earlier :func:`counts`) only objects beyond it count. Asynchronous
    clean-up (process reaping, closes finishing on worker threads) is given up to
    ``settle`` seconds; returns the final :class:`Counts` as soon as nothing is left.
    Blocking: in async code use :func:`assert_no_leaks_async` (this one refuses to
    block an event loop, which the clean-up may need).
    """
    limit = _validate_settle(settle)
    _refuse_in_event_loop()
    deadline = time.monotonic() + limit
    now = counts()
    while now.leaks(allow_systems=allow_systems, baseline=baseline):
        if time.monotonic() >= deadline:
            raise LeakError(now.leaks(allow_systems=allow_systems, baseline=baseline), now)
        time.sleep(_POLL)
        now = counts()
    return now


async def assert_no_leaks_async(
    *, allow_systems: bool = False, settle: float = 5.0, baseline: Counts | None = None
) -> Counts:
    """:func:`assert_no_leaks` for async code (asyncio or trio): the loop keeps running."""
    import anyio
    import anyio.lowlevel

    limit = _validate_settle(settle)
    deadline = time.monotonic() + limit
    now = counts()
    while now.leaks(allow_systems=allow_systems, baseline=baseline):
        if time.monotonic() >= deadline:
            raise LeakError(now.leaks(allow_systems=allow_systems, baseline=baseline), now)
        await anyio.sleep(_POLL)
        now = counts()
    await anyio.lowlevel.checkpoint()
    return now


def _refuse_in_event_loop() -> None:
    import sniffio

    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return
    raise RuntimeError(
        f"assert_no_leaks() would block the {library} event loop that may have clean-up to "
        "do; use 'await aiohcs.testing.assert_no_leaks_async()' in async code"
    )
