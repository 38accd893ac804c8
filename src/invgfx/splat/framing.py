"""Choosing a camera for a scene nobody placed one for."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from invgfx.splat.camera import Camera, load_cameras_json


def robust_bounds(means: Tensor, quantile: float = 0.01) -> tuple[Tensor, Tensor]:
    """(3,) low/high corners holding all but `quantile` of the points on each side, so that
    stray floaters of real captures do not decide the framing."""
    if len(means) < 200:
        return means.amin(0), means.amax(0)
    sample = means[torch.randperm(len(means), generator=torch.Generator().manual_seed(0))[:100_000]]
    q = torch.tensor([quantile, 1 - quantile], dtype=means.dtype)
    lo_hi = torch.quantile(sample, q, dim=0)
    return lo_hi[0], lo_hi[1]


def framing_radius(lo: Tensor, hi: Tensor, fov_y: float, margin: float = 1.15) -> float:
    """Distance at which a sphere around the box [lo, hi] fills the vertical field of view."""
    half_diag = 0.5 * float((hi - lo).norm())
    return margin * half_diag / math.sin(0.5 * fov_y)


def find_cameras_json(ply_path: str | Path, levels: int = 3) -> Path | None:
    """`cameras.json` beside a PLY or up to `levels` folders above it (where 3DGS trainers put it)."""
    folder = Path(ply_path).resolve().parent
    for _ in range(levels + 1):
        candidate = folder / "cameras.json"
        if candidate.is_file():
            return candidate
        folder = folder.parent
    return None


def up_from_cameras(cameras: list[Camera]) -> Tensor:
    """The world 'up' of a capture: the mean of its cameras' up vectors (-y of each camera)."""
    ups = torch.stack([-cam.viewmat[1, :3] for cam in cameras])
    up = ups.mean(0)
    return up / up.norm().clamp_min(1e-9)


def load_capture_up(ply_path: str | Path) -> Tensor | None:
    found = find_cameras_json(ply_path)
    return up_from_cameras(load_cameras_json(found)) if found else None
