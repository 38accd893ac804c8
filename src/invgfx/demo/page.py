"""The demo page: `index.html` (self-contained: inline CSS, relative links to the PNG/GIF/MP4
files beside it) and `summary.json` (the same numbers for programs), both written atomically."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from invgfx.atomic import write_atomic
from invgfx.demo.common import Section

CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
.meta { color: #666; font-size: 0.92em; }
table { border-collapse: collapse; margin: 0.8em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
td.num { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: nowrap; }
.status-ok { color: #17702a; font-weight: 600; } .status-failed { color: #b00020; font-weight: 600; }
.status-pending, .status-skipped { color: #777; font-weight: 600; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 0.9em; margin: 0.8em 0; }
.error { background: #fdecea; border-left: 4px solid #b00020; padding: 0.5em 0.9em; margin: 0.8em 0; }
.error pre { white-space: pre-wrap; font-size: 0.85em; }
.figs { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
figure { margin: 0; max-width: 100%; }
figure img, figure video { max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; max-width: 60ch; }
"""

INTRO = ("invgfx learns the hidden parameters behind 3D content from examples and priors: the physical "
         "properties of a simulated Gaussian object, a disentangled graphics code of an image, and the rules of "
         "procedural content. Everything below was computed by this run on built-in procedural content, with no "
         "network and no downloaded data.")


def _figure(fig) -> str:
    src, cap = escape(fig.path, quote=True), escape(fig.caption)
    if fig.kind == "video":
        return (f'<figure><video src="{src}" controls loop muted playsinline></video>'
                f'<figcaption>{cap} (<a href="{src}">{escape(fig.path)}</a>)</figcaption></figure>')
    return f'<figure><a href="{src}"><img src="{src}" alt="{cap}"></a><figcaption>{cap}</figcaption></figure>'


def _status(s: Section) -> str:
    text = {"ok": "ok", "failed": "FAILED", "pending": "not run yet", "skipped": "not run (not in --only)"}[s.status]
    secs = f", {s.seconds:.0f} s" if s.seconds is not None else ""
    return f'<span class="status-{s.status}">{text}</span>{secs}'


def render_html(sections: list[Section], header: dict) -> str:
    """The page for `sections`; header: command, started, machine, total_seconds, running (bool)."""
    out = ['<!doctype html>', '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>invgfx demo</title>', f'<style>{CSS}</style></head><body>',
           '<h1>invgfx demo</h1>', f'<p>{escape(INTRO)}</p>']
    total = header.get("total_seconds")
    state = "still running: reload for more" if header.get("running") else f"total {total:.0f} s" if total else ""
    out.append(f'<p class="meta">{escape(header.get("command", ""))} &middot; started {escape(header.get("started", ""))}'
               f' &middot; {escape(header.get("machine", ""))} &middot; {escape(state)}</p>')
    out.append('<table><tr><th>part</th><th>status, wall time</th></tr>')
    for s in sections:
        out.append(f'<tr><td><a href="#{s.key}">{escape(s.title)}</a></td><td>{_status(s)}</td></tr>')
    out.append('</table>')
    for s in sections:
        out.append(f'<section id="{s.key}"><h2>{escape(s.title)}</h2><p class="meta">{_status(s)}</p>')
        out.append(f'<p>{escape(s.about)}</p>')
        if s.error:
            out.append(f'<div class="error"><b>This part failed:</b> {escape(s.error)}')
            if s.traceback:
                out.append(f'<details><summary>traceback</summary><pre>{escape(s.traceback)}</pre></details>')
            out.append('</div>')
        for note in s.notes:
            out.append(f'<div class="note">{escape(note)}</div>')
        if s.numbers:
            out.append('<table>')
            out += [f'<tr><td>{escape(k)}</td><td class="num">{escape(v)}</td></tr>' for k, v in s.numbers]
            out.append('</table>')
        shown = [f for f in s.figures if f.kind in ("image", "video")]
        if shown:
            out.append('<div class="figs">' + "".join(_figure(f) for f in shown) + '</div>')
        links = [f for f in s.figures if f.kind == "file"]
        if links:
            out.append('<p>Files: ' + ", ".join(f'<a href="{escape(f.path, quote=True)}">{escape(f.caption)}</a>'
                                                 for f in links) + '</p>')
        out.append('</section>')
    out.append('</body></html>')
    return "\n".join(out) + "\n"


def summary(sections: list[Section], header: dict) -> dict:
    """The page's content as JSON: per section status, seconds, numbers, files, notes, error."""
    return {**header, "sections": {s.key: {"title": s.title, "status": s.status, "seconds": s.seconds,
                                           "numbers": dict(s.numbers), "files": [f.path for f in s.figures],
                                           "notes": s.notes, "error": s.error} for s in sections}}


def write_page(folder: Path, sections: list[Section], header: dict) -> Path:
    """Write folder/index.html and folder/summary.json atomically; returns the page's path."""
    folder = Path(folder)
    write_atomic(folder / "summary.json", json.dumps(summary(sections, header), indent=1).encode())
    write_atomic(folder / "index.html", render_html(sections, header).encode())
    return folder / "index.html"
