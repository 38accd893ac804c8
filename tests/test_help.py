"""--help as a new user reads it (issue 38): every command says what it does and shows an example
of itself, every option says what it means; `invgfx scenes list` gives whole sentences, defaults
and units."""

import argparse

import pytest

from invgfx.cli import _subcommands, build_parser, main


def _commands():
    parser = build_parser()
    return [parser, *_subcommands(parser)]


def _runs(parser) -> bool:
    """A command that does the work itself, not one that only groups others."""
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


@pytest.mark.parametrize("parser", _commands(), ids=lambda p: p.prog)
def test_every_command_has_a_description_and_every_option_a_help(parser):
    assert (parser.description or "").strip(), f"{parser.prog}: no description"
    parser.format_help()  # renders (a stray % in a help string would raise here)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            missing = [a.dest for a in action._choices_actions if not (a.help or "").strip()]
            assert not missing, f"{parser.prog}: subcommands without a help line: {missing}"
        else:
            assert (action.help or "").strip(), f"{parser.prog}: {action.option_strings or action.dest} has no help"


def test_every_command_shows_an_example_of_itself_not_a_shared_block():
    runnable = [p for p in _commands()[1:] if _runs(p)]
    for parser in runnable:
        name = parser.prog.removeprefix("invgfx ")
        assert name in (parser.epilog or ""), f"{parser.prog}: its epilog has no example of `invgfx {name}`"
    epilogs = [p.epilog for p in runnable]
    shared = {e.splitlines()[1] for e in epilogs if epilogs.count(e) > 1}
    assert not shared, f"commands that repeat one example block: {shared}"


def test_scenes_list_gives_whole_descriptions_defaults_and_units(capsys):
    from invgfx.scenes import SCENES

    assert main(["scenes", "list"]) == 0
    out = capsys.readouterr().out
    words = " ".join(out.split())
    for name, builder in SCENES.items():  # the whole docstring, not its first line cut mid-sentence
        assert f"{name}: {' '.join(builder.__doc__.split())}" in words, name
    assert "None" not in out
    assert "radius 0.5 m" in words and "stem_radius 0.02 x height" in words
    assert "seat_width 0.4 to 0.6 m, drawn from the seed" in words
    assert "size [0.6, 0.6, 0.6] m along x, y, z" in words  # a default as --set takes it
