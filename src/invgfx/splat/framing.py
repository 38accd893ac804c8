"""Choosing a camera for a scene nobody placed one for."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import Tensor

from invgfx.splat.camera import Camera
from invgfx.splat.geometry import quat_to_rotmat


def robust_bounds(means: Tensor, quantile: float = 0.01) -> tuple[Tensor, Tensor]:
    """(3,) low/high corners holding all but `quantile` of the points on each side, so that
    stray floaters of real captures do not decide the framing."""
    if len(means) < 200:
        return means.amin(0), means.amax(0)
    sample = means[torch.randperm(len(means), generator=torch.Generator().manual_seed(0))[:100_000]]
    q = torch.tensor([quantile, 1 - quantile], dtype=means.dtype)
    lo_hi = torch.quantile(sample, q, dim=0)
    return lo_hi[0], lo_hi[1]


def bulk_sphere(means: Tensor, quantile: float = 0.9) -> tuple[Tensor, float]:
    """((3,) centre, radius in m) of the bulk of a capture: the per-axis median of the means and
    the `quantile` of their distances from it, so floaters and far background do not decide
    where the camera looks or how far back it stands."""
    sample = means[torch.randperm(len(means), generator=torch.Generator().manual_seed(0))[:100_000]].double()
    center = sample.median(0).values
    radius = float(torch.quantile((sample - center).norm(dim=1), quantile)) if len(sample) > 1 else 0.0
    return center.float(), max(radius, 1e-6)


def bulk_distance(radius: float, fov_y: float, margin: float = 1.1) -> float:
    """Distance at which a sphere of `radius` fills the vertical field of view `fov_y` (radians)."""
    return margin * radius / math.sin(0.5 * fov_y)


AXES = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0), "+z": (0, 0, 1), "-z": (0, 0, -1)}


def up_from_data(cloud, min_alignment: float = 0.5, min_skew: float = 0.15) -> tuple[Tensor, str]:
    """((3,) unit up, how it was found) of a capture without cameras.

    Flat Gaussians lie on surfaces, and the dominant surfaces of a capture (floor, table, ground)
    face up: the axis is the top eigenvector of the opacity-weighted scatter of flat Gaussians'
    normals when it holds at least `min_alignment` of it (1/3 for normals facing every way). Its
    sign: a floor puts the bulk of the Gaussians low, so their mean lies above their median
    along up (when that skew exceeds `min_skew` standard deviations); otherwise the sign nearer
    the two conventions, +z (Blender, NeRF-synthetic) and -y (COLMAP/OpenCV). Without a
    dominant axis: +z, invgfx's own convention."""
    scales, R = cloud.scales.detach().double(), quat_to_rotmat(cloud.rotations.detach().double())
    order = scales.argsort(1)
    smallest, middle = order[:, 0], order[:, 1]
    flatness = scales.gather(1, middle[:, None]).squeeze(1) / scales.gather(1, smallest[:, None]).squeeze(1).clamp_min(1e-12)
    normals = R.gather(2, smallest[:, None, None].expand(-1, 3, 1)).squeeze(2)
    w = cloud.opacities.detach().double() * (flatness > 3.0)
    if float(w.sum()) > 0:
        scatter = torch.einsum("n,ni,nj->ij", w, normals, normals) / w.sum()
        evals, evecs = torch.linalg.eigh(scatter)
        if float(evals[-1]) >= min_alignment:
            axis = evecs[:, -1]
            t = cloud.means.detach().double() @ axis
            skew = float((t.mean() - t.median()) / t.std().clamp_min(1e-12))
            if abs(skew) > min_skew:
                return (axis if skew > 0 else -axis).float(), f"the normals of flat Gaussians, a floor below (skew {skew:.2f})"
            z, y = float(axis[2]), float(axis[1])
            sign = (1.0 if z > 0 else -1.0) if abs(z) >= abs(y) else (1.0 if y < 0 else -1.0)
            return (sign * axis).float(), "the normals of flat Gaussians, signed by the nearer convention (+z or -y)"
    return torch.tensor([0.0, 0.0, 1.0]), "no dominant surface orientation: +z"


def framing_radius(lo: Tensor, hi: Tensor, fov_y: float, margin: float = 1.15) -> float:
    """Distance at which a sphere around the box [lo, hi] fills the vertical field of view."""
    half_diag = 0.5 * float((hi - lo).norm())
    return margin * half_diag / math.sin(0.5 * fov_y)


def find_cameras_json(ply_path: str | Path, levels: int = 3) -> Path | None:
    """`cameras.json` beside a PLY or up to `levels` folders above it (where 3DGS trainers put it):
    first where the path the user gave points (a symlink's own folder), then beside its target."""
    for start in dict.fromkeys([Path(os.path.abspath(ply_path)).parent, Path(ply_path).resolve().parent]):
        folder = start
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
