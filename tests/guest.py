"""The guest program of the tests: what they start in a compute system, on every platform.

hcsim runs a guest command as a host process, so the commands must exist on the host:
this script, run by the tests' own interpreter (``helpers.guest(...)`` builds the command),
stands in for ``sh -c``, ``cat``, ``sleep``... on Linux and on Windows alike.

Each argument is one step, run in order: a verb and its operand, separated by a space.

``echo TEXT`` / ``err TEXT``
    TEXT and a newline on stdout / stderr (``echo`` alone: an empty line).
``cat`` / ``upper``
    Copy stdin to stdout until end of file (``upper``: ASCII letters upper-cased).
``read``
    Read one line from stdin (or up to end of file).
``sleep SECONDS``
    Sleep.
``exit CODE``
    Exit with CODE.
``env NAME`` / ``cwd`` / ``argv``
    Print the variable NAME (an empty line if unset) / the working directory / every
    argument after ``argv``, each followed by ``|`` (no newline; ``argv`` ends the steps).
``pid`` / ``pid PATH``
    Print this process's id / write it, and those of its children, to the file PATH.
``spawn STEPS`` / ``spawn-pid`` / ``wait``
    Start a child running STEPS (separated by ``;``) in the background, sharing stdin,
    stdout and stderr / print the id of the last child / wait for every child.
``count N``
    Print the numbers 1 to N, one a line (like ``seq N``).
``touch PATH`` / ``await-file PATH``
    Create the file PATH / wait until it exists (at most 10 s, then print ``late`` on
    stderr and exit 9).
``size`` / ``isatty``
    Print the console's size as ``ROWS COLUMNS`` (like ``stty size``) / print
    ``on-a-tty`` if stdout is a terminal.
``quiet`` / ``quiet out`` / ``quiet err``
    Let go of stdout and stderr / of one of them (it becomes the null device): a reader
    sees end of file once no other process holds it.
``hold``
    Stay until killed.

Kept small and quick to start (only ``os`` and ``sys`` unless a step needs more): the
helper runs it with ``-I -S``.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # (not typing's: importing typing doubles the start-up time)
if TYPE_CHECKING:
    import subprocess

_children: list[subprocess.Popen[bytes]] = []


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy(transform: bool) -> None:
    while True:
        data = os.read(0, 65536)
        if not data:
            return
        _write(1, data.upper() if transform else data)


def _read_line() -> None:
    while os.read(0, 1) not in (b"\n", b""):
        pass


def _std(fd: int) -> int | None:
    """``fd`` if it is open (a child then shares it), else None (the child gets none)."""
    try:
        os.fstat(fd)
    except OSError:
        return None
    return fd


def _spawn(steps: str) -> None:
    import subprocess

    _children.append(
        subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, *(s.strip() for s in steps.split(";"))],
            stdin=_std(0),
            stdout=_std(1),
            stderr=_std(2),
        )
    )


def _quiet(which: str) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    if which in ("", "out"):
        os.dup2(null, 1)
    if which in ("", "err"):
        os.dup2(null, 2)
    os.close(null)


def _count(n: int) -> None:
    out = os.fdopen(1, "w", closefd=False)
    for i in range(1, n + 1):
        out.write(f"{i}\n")
    out.flush()


def _await_file(path: str) -> bool:
    import time

    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _hold() -> None:
    import time

    while True:
        time.sleep(3600)


def main(steps: list[str]) -> int:
    """Run ``steps``; the exit code."""
    for index, step in enumerate(steps):
        verb, _, operand = step.partition(" ")
        if verb == "echo":
            _write(1, operand.encode() + b"\n")
        elif verb == "err":
            _write(2, operand.encode() + b"\n")
        elif verb in ("cat", "upper"):
            _copy(verb == "upper")
        elif verb == "read":
            _read_line()
        elif verb == "sleep":
            import time

            time.sleep(float(operand))
        elif verb == "exit":
            return int(operand)
        elif verb == "env":
            _write(1, os.environ.get(operand, "").encode() + b"\n")
        elif verb == "cwd":
            _write(1, os.getcwd().encode() + b"\n")
        elif verb == "argv":
            _write(1, "".join(a + "|" for a in steps[index + 1 :]).encode())
            return 0
        elif verb == "pid":
            if operand:
                pids = [os.getpid(), *(child.pid for child in _children)]
                with open(operand, "w") as file:
                    file.write(" ".join(map(str, pids)) + "\n")
            else:
                _write(1, f"{os.getpid()}\n".encode())
        elif verb == "spawn":
            _spawn(operand)
        elif verb == "spawn-pid":
            _write(1, f"{_children[-1].pid}\n".encode())
        elif verb == "wait":
            for child in _children:
                child.wait()
        elif verb == "count":
            _count(int(operand))
        elif verb == "touch":
            with open(operand, "a"):
                pass
        elif verb == "await-file":
            if not _await_file(operand):
                _write(2, b"late\n")
                return 9
        elif verb == "size":
            columns, rows = os.get_terminal_size(1)
            _write(1, f"{rows} {columns}\n".encode())
        elif verb == "isatty":
            if os.isatty(1):
                _write(1, b"on-a-tty\n")
        elif verb == "quiet":
            _quiet(operand)
        elif verb == "hold":
            _hold()
        else:
            _write(2, f"guest.py: unknown step {step!r}\n".encode())
            return 127
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
