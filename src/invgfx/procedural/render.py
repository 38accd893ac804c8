"""A small voxel renderer so that a person can look at a grid: isometric view of unit cubes
seen from (-x, -y, +z) (front-left, above), flat shading per face, painter's order.
2D grids (Z = 1) are drawn top-down as an image of their label colours instead."""

from __future__ import annotations

import io

import numpy as np

from .formats import write_atomic
from .modules import palette

_COS30, _SIN30 = np.sqrt(3) / 2, 0.5
# visible faces: (neighbour direction, shade, 4 corner offsets of the unit cube)
_FACES = (
    ((0, 0, 1), 1.00, ((0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1))),
    ((0, -1, 0), 0.78, ((0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1))),
    ((-1, 0, 0), 0.62, ((0, 0, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1))),
)


def _project(p: np.ndarray, scale: float) -> np.ndarray:
    """(..., 3) world points -> (..., 2) pixel offsets (x right, y down)."""
    u = (p[..., 0] - p[..., 1]) * _COS30
    v = -(p[..., 0] + p[..., 1]) * _SIN30 - p[..., 2]
    return np.stack([u, v], -1) * scale


def render_voxels(grid: np.ndarray, names, scale: int | None = None, quarter_turns: int = 0, hidden=("empty",),
                  background=(245, 245, 240)) -> np.ndarray:
    """(H, W, 3) uint8 picture of `grid` (X, Y, Z). `scale`: pixels per voxel edge (default 8);
    a 2D grid (Z = 1) is the image itself, `scale` pixels per cell (default 1, so that it reads
    back as the same grid); `quarter_turns`: turn the grid about z first to see another side;
    labels named in `hidden` are not drawn."""
    from PIL import Image, ImageDraw

    grid = np.asarray(grid)
    if grid.shape[2] == 1:
        img = palette(names)[grid[:, ::-1, 0].T]
        k = max(1, scale or 1)
        return np.repeat(np.repeat(img, k, 0), k, 1)
    scale = scale or 8
    grid = np.rot90(grid, quarter_turns % 4, axes=(0, 1))
    solid = ~np.isin(grid, [i for i, n in enumerate(names) if n in hidden])
    X, Y, Z = grid.shape
    box = np.array([[x, y, z] for x in (0, X) for y in (0, Y) for z in (0, Z)], float)
    corners = _project(box, scale)
    lo, hi = corners.min(0) - 2, corners.max(0) + 2
    W, H = (hi - lo).astype(int) + 1
    img = Image.new("RGB", (int(W), int(H)), background)
    draw = ImageDraw.Draw(img)
    colours = palette(names).astype(float)
    padded = np.pad(solid, 1)
    xyz = np.argwhere(solid)
    xyz = xyz[np.argsort(-(xyz[:, 0] + xyz[:, 1] - xyz[:, 2]), kind="stable")]  # far to near
    for x, y, z in xyz:
        rgb = colours[grid[x, y, z]]
        for (dx, dy, dz), shade, quad in _FACES:
            if padded[x + 1 + dx, y + 1 + dy, z + 1 + dz]:
                continue  # covered by the neighbour
            pts = _project(np.array(quad, float) + (x, y, z), scale) - lo
            fill = tuple(int(c) for c in rgb * shade)
            draw.polygon([tuple(p) for p in pts], fill=fill, outline=tuple(int(c * 0.6) for c in fill))
    return np.asarray(img)


def write_png(path, grid, names, **options) -> None:
    """Render `grid` with `render_voxels(**options)` and write it atomically as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(render_voxels(grid, names, **options)).save(buf, format="PNG")
    write_atomic(path, buf.getvalue())
