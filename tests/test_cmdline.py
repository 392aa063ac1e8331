"""Windows command-line quoting and splitting (CommandLineToArgvW rules)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiohcs._cmdline import join_windows, quote_windows_arg, quote_windows_program, split_windows

# Any text without NUL or lone surrogates (HCS strings are UTF-16).
ARG = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"))
# Tricky characters on their own, to hit the backslash/quote rules often.
TRICKY = st.text(st.sampled_from(['"', "\\", " ", "\t", "a", "\n"]), max_size=12)
PROGRAM = st.text(st.characters(exclude_categories=["Cs"], exclude_characters='\0"'), min_size=0)


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        # The examples of "Parsing C command-line arguments" (after a program name).
        ('p "abc" d e', ["p", "abc", "d", "e"]),
        (r"p a\\\b d" + '"e f"g h', ["p", r"a\\\b", "de fg", "h"]),
        (r"p a\\\"b c d", ["p", 'a\\"b', "c", "d"]),
        (r'p a\\\\"b c" d e', ["p", r"a\\b c", "d", "e"]),
        (r'p "ab\"c" "\\" d', ["p", 'ab"c', "\\", "d"]),
        ('p a"b"" c d', ["p", 'ab"', "c", "d"]),
        # The program name: quotes end it, backslashes are literal.
        (r'"C:\Program Files\x.exe" 1', [r"C:\Program Files\x.exe", "1"]),
        (r"C:\dir\x.exe\ 2", ["C:\\dir\\x.exe\\", "2"]),
        ('"a b"c d', ["a b", "c", "d"]),
        ('a"b c', ['a"b', "c"]),
        ("  \t", [""]),
        ("", [""]),
        ("x  \t y\t", ["x", "y"]),
        ('x ""', ["x", ""]),
        ('x "unterminated arg', ["x", "unterminated arg"]),
    ],
)
def test_split_known_cases(line: str, argv: list[str]) -> None:
    assert split_windows(line) == argv


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("a b", '"a b"'),
        ('a"b', r'"a\"b"'),
        ("a\\", "a\\"),
        ("a b\\", '"a b\\\\"'),
        ('\\"', r'"\\\""'),
        ("tab\there", '"tab\there"'),
        ("C:\\path\\", "C:\\path\\"),
    ],
)
def test_quote_arg(arg: str, quoted: str) -> None:
    assert quote_windows_arg(arg) == quoted


def test_program_name_rules() -> None:
    assert quote_windows_program("cmd.exe") == "cmd.exe"
    assert quote_windows_program("C:\\Program Files\\a.exe") == '"C:\\Program Files\\a.exe"'
    assert quote_windows_program("") == '""'
    assert quote_windows_program('we"ird') == 'we"ird'
    with pytest.raises(ValueError, match="double quote"):
        quote_windows_program('has "quote and space')
    with pytest.raises(ValueError, match="double quote"):
        quote_windows_program('"leading')


def test_join_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        join_windows("a string")
    with pytest.raises(ValueError, match="empty"):
        join_windows([])
    with pytest.raises(ValueError, match="NUL"):
        join_windows(["a", "b\0"])
    with pytest.raises(TypeError):
        join_windows(["a", 1])  # type: ignore[list-item]


@given(program=PROGRAM, args=st.lists(ARG | TRICKY, max_size=8))
def test_round_trip(program: str, args: list[str]) -> None:
    argv = [program, *args]
    line = join_windows(argv)
    assert split_windows(line) == argv


@given(arg=ARG | TRICKY)
def test_quoted_argument_is_one_word(arg: str) -> None:
    assert split_windows("p " + quote_windows_arg(arg)) == ["p", arg]


@given(line=st.text(st.sampled_from(['"', "\\", " ", "\t", "a"]), max_size=20))
def test_split_is_stable(line: str) -> None:
    """Re-joining a split line and splitting again is a fixed point."""
    argv = split_windows(line)
    try:
        joined = join_windows(argv)
    except ValueError:
        return  # a program name with a quote that would need quoting
    assert split_windows(joined) == argv
