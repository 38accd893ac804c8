"""What every demo section shares: the options, and the page-level description of a section's outcome.

A section module has `run(folder, options) -> Result`, where Result is its own small dataclass
(files written + numbers) with a `section()` method that turns it into a `Section` for the page.
`cli.run_sections` times each one, and turns an exception into a failed `Section` that lists the
files the section had written before it failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("physics", "ign", "rules", "scenes")
"""Section keys in page order."""

TITLES = {
    "physics": "(a) Physics: learning E of a jelly ball",
    "ign": "(b) Graphics code: re-rendering an unseen face (DC-IGN)",
    "rules": "(c) Rules: from one example building to larger content",
    "scenes": "(d) The procedural scene library",
}


@dataclass
class DemoOptions:
    """out: the demo folder; quick: tiny settings (a smoke test, well under a minute); seed: of
    everything random; device: torch device; epochs: physics epochs (None: the section's default);
    size, frames: scene-library contact sheet size and turntable frames (0: no turntables);
    ign_checkpoint: a DC-IGN checkpoint to use instead of the shipped one."""

    out: Path
    quick: bool = False
    seed: int = 0
    device: str = "cpu"
    epochs: int | None = None
    size: int = 256
    frames: int = 16
    ign_checkpoint: str | None = None


@dataclass
class Figure:
    """A file shown on the page: path relative to the demo folder; kind "image" (PNG/GIF, shown
    inline), "video" (MP4, a player) or "file" (a link)."""

    path: str
    caption: str
    kind: str = "image"


@dataclass
class Section:
    """One part of the page. status: "ok", "failed" or "pending"; numbers: (label, value) rows;
    notes: things a reader must know about how the numbers were made, shown in words."""

    key: str
    title: str
    about: str
    status: str = "pending"
    seconds: float | None = None
    figures: list[Figure] = field(default_factory=list)
    numbers: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None


def fmt(value: float, digits: int = 3) -> str:
    """A number for the page: 3 significant digits, thousands separated, scientific when large or small."""
    if isinstance(value, int):
        return f"{value:,}"
    if value is None or not math.isfinite(value):
        return str(value)
    a = abs(value)
    if a == 0:
        return "0"
    if a < 1e-2 or a >= 1e6:
        return f"{value:.{digits - 1}e}"
    if a >= 10 ** (digits - 1):
        return f"{round(value, digits - 1 - int(math.floor(math.log10(a)))):,.0f}"
    return f"{value:.{digits}g}"


def rel(path: Path, root: Path) -> str:
    """`path` relative to the demo folder `root`, with forward slashes (for HTML links)."""
    return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
