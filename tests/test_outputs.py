"""One overwrite policy for every command (issue 38): results replace what has their name; a run
folder with a checkpoint is resumed, --restart starts it over. Each --out help says which."""

import argparse

from invgfx.cli import _subcommands, build_parser, main
from invgfx.outputs import POLICY


def test_the_policy_is_in_invgfx_help_and_every_out_help_says_which_half_applies():
    parser = build_parser()
    assert POLICY in parser.epilog
    for command in _subcommands(parser):
        options = {a.dest: a for a in command._actions}
        if "out" not in options:
            continue
        text = options["out"].help
        assert text.endswith(("; replaced if it exists", "; a run there is resumed (--restart: start over)")), \
            f"{command.prog} --out: {text!r}"
        if "resumed" in text:  # a resumable run folder can be started over
            assert "restart" in options and isinstance(options["restart"], argparse._StoreTrueAction), command.prog


def test_scenes_make_replaces_an_existing_file(tmp_path):
    out = tmp_path / "ball.ply"
    assert main(["scenes", "make", "ball", "--set", "n_gaussians=50", "--out", str(out)]) == 0
    first = out.read_bytes()
    assert main(["--seed", "1", "scenes", "make", "ball", "--set", "n_gaussians=50", "--out", str(out)]) == 0
    assert out.read_bytes() != first  # replaced, not refused and not appended


def test_rules_train_neural_resumes_its_run_folder_and_restart_starts_over(tmp_path, capsys):
    import json

    run = tmp_path / "tn"
    argv = ["rules", "train-neural", "--out", str(run), "--count", "4", "--batch", "2"]
    assert main([*argv, "--steps", "1", "--channels", "4"]) == 0
    assert main([*argv, "--steps", "2", "--channels", "8"]) == 0  # resumed: the run's own config wins
    assert json.loads((run / "config.json").read_text())["channels"] == 4
    assert main([*argv, "--steps", "1", "--channels", "8", "--restart"]) == 0  # started over with the new config
    assert json.loads((run / "config.json").read_text())["channels"] == 8
    out = [line for line in capsys.readouterr().out.splitlines() if "cross-entropy" in line]
    assert [line.split(",")[0] for line in out] == [f"{run}: step {k}" for k in (1, 2, 1)]
