"""Where commands write: output paths checked before the work rather than after it."""

from __future__ import annotations

import errno
import os
from pathlib import Path


def check_writable(path) -> None:
    """Refuse an output path below a file now, before the work that would end in writing it. Raises
    NotADirectoryError naming the path, which the CLI reports in one line."""
    for parent in Path(path).parents:
        if parent.is_file():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
