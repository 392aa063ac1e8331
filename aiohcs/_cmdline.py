"""Windows command lines: quoting an argv so that ``CommandLineToArgvW`` gives it back.

Windows passes a process one string, its command line; the program splits it. HCS takes
that string as ``ProcessParameters.CommandLine``. :func:`join_windows` builds it from a list
of arguments and :func:`split_windows` implements the splitting rules of
``CommandLineToArgvW`` (and of the Microsoft C runtime since 2008), so that
``split_windows(join_windows(argv)) == argv`` for every argv :func:`join_windows` accepts.

The rules (documented for ``CommandLineToArgvW`` and "Parsing C command-line arguments"):

* The program name (first word) is special: if it starts with ``"`` it runs to the next
  ``"``; otherwise it runs to the first space or tab. Backslashes are literal in it.
* Later words are separated by spaces and tabs outside quotes. ``2n`` backslashes followed
  by ``"`` give ``n`` backslashes and the quote opens or closes a quoted part; ``2n+1``
  backslashes followed by ``"`` give ``n`` backslashes and a literal ``"``; backslashes not
  followed by ``"`` are literal. Inside a quoted part, ``""`` gives a literal ``"``.

No shell is involved anywhere: ``cmd.exe`` metacharacters (``& | < > ^ %``) are ordinary
characters for these rules, and a program that re-parses its command line with other
rules (``cmd /c``) needs its own escaping.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["join_windows", "quote_windows_arg", "quote_windows_program", "split_windows"]

_WS = " \t"
# Quote anything with whitespace of any kind, not only the separators, so the result is
# also right for parsers that split on newlines or vertical tabs.
_NEEDS_QUOTES = frozenset(' \t\n\v"')


def quote_windows_arg(arg: str) -> str:
    """Quote one argument (not the program name) for :func:`split_windows`."""
    if arg and not any(c in _NEEDS_QUOTES for c in arg):
        return arg
    out = ['"']
    backslashes = 0
    for c in arg:
        if c == "\\":
            backslashes += 1
            continue
        if c == '"':
            # The backslashes before a quote are doubled, plus one to escape the quote.
            out.append("\\" * (2 * backslashes + 1))
            out.append('"')
        else:
            out.append("\\" * backslashes)
            out.append(c)
        backslashes = 0
    # Backslashes before the closing quote are doubled so that it stays a closing quote.
    out.append("\\" * (2 * backslashes))
    out.append('"')
    return "".join(out)


def quote_windows_program(program: str) -> str:
    """Quote the program name (argv[0]); raise ValueError if no quoting can represent it.

    The program name knows no escapes: it cannot contain ``"`` if it also needs quotes
    (it has whitespace, is empty or starts with ``"``). Windows file names never contain
    ``"``.
    """
    if program and not any(c in _WS for c in program) and not program.startswith('"'):
        return program
    if '"' in program:
        raise ValueError(
            f"the program name {program!r} cannot be written in a Windows command line: "
            "it would need quotes and contains a double quote"
        )
    return f'"{program}"'


def join_windows(argv: Sequence[str]) -> str:
    """Return the command line whose ``CommandLineToArgvW`` splitting is ``argv``."""
    if isinstance(argv, str):
        raise TypeError("join_windows takes a sequence of arguments, not one string")
    if not argv:
        raise ValueError("the command is empty")
    for arg in argv:
        if not isinstance(arg, str):
            raise TypeError(f"command arguments must be str, not {type(arg).__name__}")
        if "\0" in arg:
            raise ValueError("command arguments cannot contain NUL characters")
    return " ".join([quote_windows_program(argv[0]), *map(quote_windows_arg, argv[1:])])


def split_windows(line: str) -> list[str]:
    """Split a command line by the ``CommandLineToArgvW`` rules (see the module docs).

    An empty line gives ``[""]`` (an empty program name), as the real function does
    apart from its substitution of the module path.
    """
    i, n = 0, len(line)
    # the program name
    if line.startswith('"'):
        end = line.find('"', 1)
        if end < 0:
            program, i = line[1:], n
        else:
            program, i = line[1:end], end + 1
    else:
        while i < n and line[i] not in _WS:
            i += 1
        program = line[:i]
    argv = [program]
    while i < n and line[i] in _WS:
        i += 1
    while i < n:
        word: list[str] = []
        quoted = False
        backslashes = 0
        while i < n:
            c = line[i]
            if c in _WS and not quoted:
                break
            if c == "\\":
                backslashes += 1
                word.append(c)
                i += 1
            elif c == '"':
                if backslashes % 2 == 0:
                    del word[len(word) - backslashes // 2 :]
                    i += 1
                    if quoted and i < n and line[i] == '"':
                        word.append('"')
                        i += 1
                        quoted = False
                    else:
                        quoted = not quoted
                else:
                    del word[len(word) - (backslashes // 2 + 1) :]
                    word.append('"')
                    i += 1
                backslashes = 0
            else:
                backslashes = 0
                word.append(c)
                i += 1
        argv.append("".join(word))
        while i < n and line[i] in _WS:
            i += 1
    return argv
