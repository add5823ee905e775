"""Read the plain command lines of the hottest commands without argparse, or decline.

Importing argparse, building a parser (with its gettext lookups) and formatting its usage is a
noticeable part of one `lokilog emit`, and hooks run that once per event. The lines they write
are plain: exact option names, each value its own word, no ``--``. This reads exactly those, the
way argparse reads them; anything else (an abbreviation, ``--opt=value``, a value that starts with
``-``, a bad number, ``--help``, a missing argument) returns None and argparse parses the line,
errors and help included. tests/test_simple_args.py checks the two agree wherever this answers.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Mapping, Sequence

#: How an option is read: ``value`` takes the next word, ``int`` too (as argparse's type=int),
#: ``append`` adds the next word to a list, ``flag`` stores True.
KINDS = ("value", "int", "append", "flag")


def parse(args: Sequence[str], options: Mapping[str, tuple[str, str]], defaults: Mapping[str, object],
          positional: tuple[str, str] | None = None) -> SimpleNamespace | None:
    """Read ``args``; None where argparse should.

    ``options`` maps each option string to (dest, kind); ``defaults`` holds every dest's default;
    ``positional`` is (first dest, rest dest) for one required word and any number after it, in
    any order among the options (argparse's intermixed parsing), or None for no positionals.
    """
    values = dict(defaults)
    words: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-"):
            words.append(arg)
            continue
        known = options.get(arg)
        if known is None:
            return None  # --, -h, --opt=value, an abbreviation, a cluster, a negative number
        dest, kind = known
        if kind == "flag":
            values[dest] = True
            continue
        if i == len(args) or args[i].startswith("-"):
            return None  # argparse decides whether a value that starts with "-" is one
        value: object = args[i]
        i += 1
        if kind == "int":
            try:
                value = int(value)  # type: ignore[call-overload]
            except ValueError:
                return None
        if kind == "append":
            values[dest] = [*(values[dest] or ()), value]  # type: ignore[misc]
        else:
            values[dest] = value
    if positional is None:
        if words:
            return None
    else:
        if not words:
            return None
        first, rest = positional
        values[first], values[rest] = words[0], words[1:]
    return SimpleNamespace(**values)
