"""CSV logs of resumable runs: a resumed run continues its log from its checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path


def open_log(path: str | Path, fields: list[str], step: int):
    """The CSV log at `path` (header `fields`, each row starting with its step), opened for the
    rows after `step`: the rows it had after `step` (written after the checkpoint a run resumes
    from) are dropped, so every step appears once; step 0 starts a new log."""
    path = Path(path)
    rows = []
    if step > 0 and path.exists():
        with open(path, newline="") as fh:
            rows = [r for r in list(csv.reader(fh))[1:] if r and int(r[0]) <= step]
    fh = open(path, "w", newline="")
    writer = csv.writer(fh)
    writer.writerow(fields)
    writer.writerows(rows)
    fh.flush()  # a reader sees the header and kept rows at once
    return fh
