"""What a person looks at after a run: parameters and loss against epoch (PNG) and the
simulation before and after learning, side by side (MP4)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from invgfx.atomic import atomic_output

PANEL = (320, 240)  # pixels per plot panel
MARGIN = 40


def _panel(draw, origin: tuple[int, int], title: str, xs: list[float], series: dict[str, list[float]], log: bool) -> None:
    """Line plot of each series against xs in the panel at `origin`; log: log10 y axis."""
    colors = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
    x0, y0 = origin[0] + MARGIN, origin[1] + 20
    w, h = PANEL[0] - MARGIN - 10, PANEL[1] - 50
    ys = {k: [math.log10(max(v, 1e-30)) if log else v for v in vals] for k, vals in series.items()}
    flat = [v for vals in ys.values() for v in vals if math.isfinite(v)]
    lo, hi = (min(flat), max(flat)) if flat else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    xlo, xhi = min(xs), max(max(xs), min(xs) + 1)
    draw.rectangle([x0, y0, x0 + w, y0 + h], outline=(0, 0, 0))
    draw.text((origin[0] + 5, origin[1] + 3), title, fill=(0, 0, 0))
    fmt = (lambda v: f"1e{v:.2f}") if log else (lambda v: f"{v:.3g}")
    draw.text((origin[0] + 2, y0), fmt(hi), fill=(0, 0, 0))
    draw.text((origin[0] + 2, y0 + h - 10), fmt(lo), fill=(0, 0, 0))
    draw.text((x0, y0 + h + 4), f"epoch {xlo:g}", fill=(0, 0, 0))
    draw.text((x0 + w - 40, y0 + h + 4), f"{xhi:g}", fill=(0, 0, 0))
    for i, (name, vals) in enumerate(ys.items()):
        pts = [(x0 + w * (x - xlo) / (xhi - xlo), y0 + h * (1 - (v - lo) / (hi - lo))) for x, v in zip(xs, vals)]
        color = colors[i % len(colors)]
        if len(pts) > 1:
            draw.line(pts, fill=color, width=2)
        for p in pts:
            draw.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=color)
        draw.text((x0 + 5, y0 + 5 + 12 * i), name, fill=color)


def plot_history(history: list[dict], path: str | Path) -> None:
    """PNG: the learned parameters (log10 axis) and the loss against epoch."""
    from PIL import Image, ImageDraw

    skip = ("epoch", "group", "loss", "seconds")
    xs = [h["epoch"] + 1 for h in history]  # after epoch e's step, e + 1 epochs are done
    params = {k: [h[k] for h in history] for k in history[0] if k not in skip and not k.startswith("dL/du_")}  # gradients: log.csv
    image = Image.new("RGB", (2 * PANEL[0], PANEL[1]), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    _panel(draw, (0, 0), "parameters (SI units)", xs, params, log=True)
    _panel(draw, (PANEL[0], 0), "loss (before the step)", xs, {"loss": [h["loss"] for h in history]}, log=False)
    with atomic_output(path) as tmp:
        image.save(tmp)


def side_by_side(before: Tensor, after: Tensor, gap: int = 4) -> Tensor:
    """(T, 3, H, W) x 2 -> (T, 3, H, 2 W + gap) with a white gap."""
    white = torch.ones(before.shape[0], 3, before.shape[2], gap)
    return torch.cat([before, white, after], dim=3)
