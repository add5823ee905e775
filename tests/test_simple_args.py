"""commands/simple_args.py reads a command line to the same options as the argparse parser it
stands in for, wherever it answers at all; and it answers for the lines hooks write."""
from __future__ import annotations

import argparse

from hypothesis import given, settings, strategies as st

from commands import emit_cli, fast_cli, simple_args

#: Words a command line of these commands can hold: every option string, near misses argparse
#: reads differently (abbreviations, --opt=value, clusters, --, -), and values of every shape.
OPTION_WORDS = sorted({*emit_cli.OPTIONS, *fast_cli.TAIL_OPTIONS[0]}) + [
    "--", "-", "-h", "--help", "--sou", "--source=x", "-shook", "-n5", "--lines=3", "--typ", "-x", "--unknown"]
VALUE_WORDS = ["", "task", "hook", "x", "k=v", "n:=3", "3", " 7 ", "-1", "-3", "1_000", "1.5", "x y", "-x y", "@f",
               "é", "{\"a\":1}", "０", "nope"]
WORDS = st.lists(st.sampled_from(OPTION_WORDS + VALUE_WORDS) | st.text(max_size=4), max_size=8)


def argparse_emit(args: list[str]) -> dict | None:
    try:
        return vars(emit_cli.parser().parse_intermixed_args(args))
    except SystemExit:
        return None


def argparse_fast(parser: argparse.ArgumentParser, args: list[str]) -> dict | None:
    options = fast_cli.parse_strictly(parser, args)
    return None if options is None else vars(options)


@settings(max_examples=400, deadline=None)
@given(WORDS)
def test_an_emit_line_it_reads_is_the_line_argparse_reads(args):
    fast = simple_args.parse(args, emit_cli.OPTIONS, emit_cli.DEFAULTS, positional=("type", "pairs"))
    if fast is not None:
        assert vars(fast) == argparse_emit(args)


@settings(max_examples=400, deadline=None)
@given(WORDS)
def test_a_tail_line_it_reads_is_the_line_argparse_reads(args):
    fast = simple_args.parse(args, *fast_cli.TAIL_OPTIONS)
    if fast is not None:
        assert vars(fast) == argparse_fast(fast_cli.tail_parser(), args)
    fast = simple_args.parse(args, *fast_cli.JSON_ONLY_OPTIONS)
    if fast is not None:
        assert vars(fast) == argparse_fast(fast_cli.json_only_parser(), args)


def test_the_options_tables_name_every_option_of_the_parsers():
    def strings(parser: argparse.ArgumentParser) -> set[str]:
        return {s for action in parser._actions for s in action.option_strings} - {"-h", "--help"}

    assert strings(emit_cli.parser()) == set(emit_cli.OPTIONS)
    assert strings(fast_cli.tail_parser()) == set(fast_cli.TAIL_OPTIONS[0])
    assert strings(fast_cli.json_only_parser()) == set(fast_cli.JSON_ONLY_OPTIONS[0])
    assert set(vars(emit_cli.parser().parse_args(["t"]))) == set(emit_cli.DEFAULTS) | {"type", "pairs"}


def test_the_lines_hooks_write_are_read_without_argparse():
    hook = ["task", "-s", "hook", "-a", "start", "task_id=t1", "attempt:=2", "--id", "e1", "--json"]
    assert vars(simple_args.parse(hook, emit_cli.OPTIONS, emit_cli.DEFAULTS, ("type", "pairs"))) == argparse_emit(hook)
    assert simple_args.parse(["-n", "20"], *fast_cli.TAIL_OPTIONS) is not None
    assert simple_args.parse([], *fast_cli.JSON_ONLY_OPTIONS) is not None
    # And hands over whatever argparse may read otherwise.
    for odd in (["task", "--payload", "-"], ["task", "--source=x"], ["task", "--"], [], ["--help"]):
        assert simple_args.parse(odd, emit_cli.OPTIONS, emit_cli.DEFAULTS, ("type", "pairs")) is None


def test_the_terminal_width_is_the_one_shutil_reports(monkeypatch):
    import shutil

    from commands.terminal_width import terminal_columns

    for columns in ("", "0", "-3", "abc", "40", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        assert terminal_columns() == shutil.get_terminal_size().columns, columns
    monkeypatch.delenv("COLUMNS")
    assert terminal_columns() == shutil.get_terminal_size().columns
