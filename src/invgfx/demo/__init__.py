"""`invgfx demo`: the whole system on built-in procedural content, offline, on one HTML page.

Modules:
    cli       the `invgfx demo` command: runs the sections, times them, writes the page
    common    options, the page-level `Section`, number formatting
    physics   (a) learn E of a jelly ball from a video prior (MPM + Gaussian rendering + BPTT)
    ign       (b) re-render unseen procedural faces under new azimuth / light (shipped DC-IGN)
    rules     (c) learn adjacency rules from one generated building, solve larger grids
    scenes    (d) the procedural scene library: PLYs, contact sheet, turntables
    page      index.html (self-contained, relative links) and summary.json
"""

from invgfx import InvgfxError


class DemoError(InvgfxError):
    """Bad `invgfx demo` arguments."""


__all__ = ["DemoError"]
