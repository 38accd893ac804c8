"""Where commands write: one overwrite policy for every command, and output paths checked before
the work rather than after it.

The policy (POLICY, in `invgfx --help`): a command's outputs replace files or folders of the same
name; a run folder (training, learning) that holds a checkpoint is resumed from it, and --restart
starts it over. Each --out help says which of the two applies (`replaced`, `resumed`)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

POLICY = ("outputs: what a command writes replaces a file or folder of the same name; a run folder (ign train, "
          "rules train-neural, video-prior data / train / classifier, learn-physics) that holds a checkpoint is "
          "resumed from it instead: rerun the same command to continue, add --restart to start over.")


def replaced(text: str) -> str:
    """The --out help of a command that writes results: `text`, and what happens to an existing one."""
    return f"{text}; replaced if it exists"


def resumed(text: str) -> str:
    """The --out help of a command that writes a run folder."""
    return f"{text}; a run there is resumed (--restart: start over)"


def add_restart(parser, *aliases: str) -> None:
    """--restart (dest `restart`) on a command that resumes its run folder."""
    parser.add_argument("--restart", *aliases, dest="restart", action="store_true",
                        help="start the run in --out over instead of resuming it from its checkpoint")


def check_writable(path) -> None:
    """Refuse an output path below a file now, before the work that would end in writing it. Raises
    NotADirectoryError naming the path, which the CLI reports in one line."""
    for parent in Path(path).parents:
        if parent.is_file():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
