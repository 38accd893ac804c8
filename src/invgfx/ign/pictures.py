"""Pictures a person looks at: grids of image rows and factor-vs-latent scatter plots, as
(3, H, W) float tensors for `invgfx.splat.io_image.write_png` (which writes atomically)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def grid_picture(rows: np.ndarray, scale: int = 1) -> Tensor:
    """(R, C, H, W) grayscale images in [0, 1] -> (3, H', W') grid with 2 px white borders,
    each pixel repeated `scale` x `scale` times."""
    from invgfx.splat.io_image import image_grid

    R, C, H, W = rows.shape
    grid = image_grid(list(torch.as_tensor(rows, dtype=torch.float32).reshape(R * C, H, W)), nrow=C)
    return grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2)


def scatter_panels(panels: list[tuple[str, np.ndarray, np.ndarray]], size: int = 240) -> Tensor:
    """(3, size + 40, n * size) picture: one panel per (title, x ground truth (N,), y latent (N,)),
    each axis scaled to its data range, with the least-squares line in red."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (len(panels) * size, size + 40), "white")
    draw = ImageDraw.Draw(img)
    m = 20  # margin in pixels
    for p, (title, x, y) in enumerate(panels):
        x0 = p * size

        def to_px(xv, yv, x=x, y=y, x0=x0):
            sx = (xv - x.min()) / max(np.ptp(x), 1e-12)
            sy = (yv - y.min()) / max(np.ptp(y), 1e-12)
            return x0 + m + sx * (size - 2 * m), m + (1 - sy) * (size - 2 * m)

        draw.rectangle([x0 + m, m, x0 + size - m, size - m], outline="black")
        for xv, yv in zip(x, y):
            px, py = to_px(xv, yv)
            draw.ellipse([px - 1.5, py - 1.5, px + 1.5, py + 1.5], fill=(40, 70, 160))
        a, b = np.polyfit(x, y, 1)
        draw.line([to_px(x.min(), a * x.min() + b), to_px(x.max(), a * x.max() + b)], fill="red", width=2)
        draw.text((x0 + m, size - m + 4), "ground truth (rad) ->", fill="black")
        draw.text((x0 + m, size + 18), title, fill="black")
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)
