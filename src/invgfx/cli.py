"""The one `invgfx` command.

Every subpackage that has a `cli` module plugs its subcommands in through
`register(subparsers)`; each subcommand sets `func(args) -> int | None`.
Options every command shares (`--device`, `--seed`, `--debug`) live on the top parser.
Heavy imports belong inside the command functions so that `invgfx --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings

import invgfx
from invgfx import InvgfxError
from invgfx.outputs import POLICY

EPILOG = """examples:
  invgfx demo --out demo_out                 the whole system on procedural content: demo_out/index.html
  invgfx scenes list                         the procedural objects and their parameters
  invgfx scenes make plant --out plant.ply   write a procedural object as a 3DGS PLY
  invgfx render plant.ply --out plant.mp4 --orbit
  invgfx models                              the weights shipped with invgfx and their names (--checkpoint faces)
run `invgfx COMMAND --help` for the options of each command.

""" + POLICY + """

threads: on a machine whose load is above its cores + 1, torch and the compiled renderer run on one
thread unless OMP_NUM_THREADS is set (spinning threads fight the other jobs)."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every command's --help: in descriptions and epilogs, unindented lines run together into
    paragraphs wrapped to the terminal (a line ending in ':' is a heading of its own); indented lines
    (examples, tables) stay as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out, paragraph = [], []

        def flush():
            if paragraph:
                out.append(textwrap.fill(" ".join(paragraph), width, initial_indent=indent, subsequent_indent=indent,
                                         break_on_hyphens=False))
                paragraph.clear()

        for line in text.splitlines():
            if line.strip() and not line[0].isspace():
                paragraph.append(line.strip())
                if line.rstrip().endswith(":"):
                    flush()
            else:
                flush()
                out.append(indent + line)
        flush()
        return "\n".join(out)


def _command_modules() -> list[str]:
    """`invgfx.<pkg>.cli` for every subpackage that has one, in name order."""
    names = []
    for info in pkgutil.iter_modules(invgfx.__path__):
        if info.ispkg and importlib.util.find_spec(f"invgfx.{info.name}.cli") is not None:
            names.append(f"invgfx.{info.name}.cli")
    return sorted(names)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="invgfx",
        description="Learn the hidden parameters behind 3D content: physical properties of "
        "Gaussian objects (DreamPhysics), disentangled graphics codes (DC-IGN) and the rules "
        "of procedural content.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"invgfx {invgfx.__version__}")
    _shared_options(parser, default=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(name).register(sub)
    for command in _subcommands(parser):
        _shared_options(command.add_argument_group("options of every command"), default=False)
        command.formatter_class = HelpFormatter
    return parser


def _shared_options(parser, default: bool) -> None:
    """--device, --seed, --debug: on the top parser with their defaults, and on every subcommand without
    (argparse.SUPPRESS), so that `invgfx ign train --seed 1` means what `invgfx --seed 1 ign train` does."""
    def value(v):
        return v if default else argparse.SUPPRESS

    parser.add_argument("--device", default=value("cpu"), help="torch device: cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--seed", type=int, default=value(0),
                        help="random seed; the same seed gives the same result on the same device (default: 0)")
    parser.add_argument("--debug", action="store_true", default=value(False), help="show full tracebacks for errors")


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below `parser` that runs a command (argparse keeps them in its private action list)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share one parser
                found += [child, *_subcommands(child)]
    return found


def one_thread_when_busy(load: float, cores: int, environ) -> str | None:
    """On an oversubscribed machine (1-minute load average above cores + 1) where the user has not
    chosen a thread count (OMP_NUM_THREADS unset), set OMP_NUM_THREADS=1 in `environ`, which torch
    and the compiled renderer read when they start, and return the line that says so; else None.
    Why: spinning threads fight the other jobs. On the 2-core machine at load 16, one 32 px render
    took 1.65 s of wall clock on 2 torch threads and 0.068 s on 1. A command's own --threads wins."""
    if "OMP_NUM_THREADS" in environ or load <= cores + 1:
        return None
    environ["OMP_NUM_THREADS"] = "1"
    return (f"the machine is busy (load {load:.1f} on {cores} cores): torch runs on 1 thread; "
            f"set OMP_NUM_THREADS to choose")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    import signal

    def terminate(signum, frame):  # SIGTERM (a kill, a scheduler) ends a command as Ctrl-C does: it saves, says so
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    if hasattr(os, "getloadavg"):
        busy = one_thread_when_busy(os.getloadavg()[0], invgfx.available_cores(), os.environ)
        if busy and sys.stderr.isatty():  # said to a person; a script's stderr keeps its one line per error
            print(f"invgfx: note: {busy}", file=sys.stderr)
    if not args.debug:  # one line per warning, as errors are; --debug keeps where it came from
        warnings.formatwarning = lambda message, category, *rest, **kw: f"invgfx: warning: {message}\n"
    warnings.showwarning = above_progress_bars(warnings.showwarning)
    try:
        _check_device(args.device)
        _check_outputs(args)
        return int(args.func(args) or 0)
    except InvgfxError as err:
        if args.debug:
            raise
        print(f"invgfx: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("invgfx: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a path the command cannot write or read: one line naming it
        if args.debug or err.filename is None:
            raise
        print(f"invgfx: error: {_os_error(err)}", file=sys.stderr)
        return 1


def above_progress_bars(show):
    """`show` (a warnings.showwarning) made to write above the progress bars: tqdm clears them,
    the warning gets a line of its own, and they are drawn again below it, instead of the warning
    landing in the middle of a bar's line. Wrapping twice gives the same function."""
    if getattr(show, "above_progress_bars", False):
        return show

    def showwarning(message, category, filename, lineno, file=None, line=None):
        from tqdm import tqdm

        with tqdm.external_write_mode(file=file or sys.stderr):
            show(message, category, filename, lineno, file, line)

    showwarning.above_progress_bars = True
    return showwarning


def _os_error(err: OSError) -> str:
    """One line for a failed file operation: the path, what went wrong, and the likely cause."""
    import errno
    from pathlib import Path

    name = err.filename2 or err.filename  # a rename names its target second
    path = Path(name)
    if err.errno in (errno.EEXIST, errno.ENOTDIR) and any(p.is_file() for p in [path, *path.parents]):
        blocking = next(p for p in [path, *path.parents] if p.is_file())
        return f"{blocking}: is a file, so nothing can be written under it; choose an output path in a folder"
    if err.errno == errno.EISDIR:
        return f"{name}: is a folder; give a file name"
    return f"{name}: {err.strerror}"


def _check_outputs(args) -> None:
    """Every output path (--out, --ply-frames) that lies below a file is refused before the command
    works, not after (a simulation would run to the end first)."""
    from invgfx.outputs import check_writable

    for name in ("out", "ply_frames"):
        value = getattr(args, name, None)
        for path in [value] if isinstance(value, str) else value or []:
            check_writable(path)


def _check_device(device: str) -> None:
    if device == "cpu":  # the default needs no check, and commands without torch should not import it
        return
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise InvgfxError(f"--device {device!r} is not a torch device; use cpu, cuda or cuda:N") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvgfxError(f"--device {device}: CUDA is not available on this machine; use --device cpu")


if __name__ == "__main__":
    sys.exit(main())
