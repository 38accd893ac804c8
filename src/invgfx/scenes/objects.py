"""Procedural Gaussian objects with known geometry (metres, z up, resting on or centred at the origin).

Each builder takes a seed and shape parameters and returns a `ProceduralObject`: the Gaussians,
a part label per Gaussian (so physics can hold a pot or the ends of a cable still, or give a
region its own material) and the parameters that made it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from invgfx.scenes.primitives import (
    rotation_z, sample_box, sample_cylinder, sample_ellipsoid, sample_tube, solid_cloud, spacing_for,
)
from invgfx.splat.cloud import GaussianCloud
from invgfx.splat.geometry import axis_angle_to_rotmat, rotmat_to_quat


@dataclass
class ProceduralObject:
    """cloud: the Gaussians; parts: (N,) long index into part_names; params: what built it."""

    cloud: GaussianCloud
    parts: Tensor
    part_names: tuple[str, ...]
    params: dict = field(default_factory=dict)

    def part_mask(self, name: str) -> Tensor:
        """(N,) bool mask of the Gaussians of part `name`."""
        if name not in self.part_names:
            from invgfx.scenes.errors import SceneError

            raise SceneError(f"part {name!r} is not one of {', '.join(self.part_names)}")
        return self.parts == self.part_names.index(name)


def _assemble(pieces: list[tuple], part_names: tuple[str, ...], h: float, params: dict) -> ProceduralObject:
    """pieces: (points (M, 3), colours (M, 3), part index[, GaussianCloud of the piece]) -> one object.
    Pieces without their own cloud become isotropic Gaussians of spacing h."""
    clouds = [piece[3] if len(piece) > 3 else solid_cloud(piece[0], piece[1], h) for piece in pieces]
    parts = torch.cat([torch.full((len(piece[0]),), piece[2], dtype=torch.long) for piece in pieces])
    return ProceduralObject(GaussianCloud.cat(clouds), parts, part_names, params)


def _shade(base, n: int, generator: torch.Generator, variation: float = 0.06) -> Tensor:
    """n copies of RGB `base` with a little per-Gaussian variation, so surfaces read as material."""
    base = torch.as_tensor(base, dtype=torch.float32)
    return (base + variation * (torch.rand(n, 3, generator=generator) - 0.5)).clamp(0, 1)


def ball(seed: int = 0, radius: float = 0.5, n_gaussians: int = 20000, stripes: int = 6,
         colors=((0.9, 0.15, 0.1), (0.95, 0.9, 0.8))) -> ProceduralObject:
    """A solid ball centred at the origin, coloured in `stripes` alternating meridian segments
    (like a beach ball) so that its rotation and squash are visible."""
    g = torch.Generator().manual_seed(seed)
    h = spacing_for(4 / 3 * math.pi * radius**3, n_gaussians)
    pts = sample_ellipsoid([radius] * 3, h, g)
    sector = ((torch.atan2(pts[:, 1], pts[:, 0]) + math.pi) / (2 * math.pi) * stripes).long() % 2
    col = torch.where(sector[:, None] == 0, torch.tensor(colors[0]), torch.tensor(colors[1]))
    col = (col + 0.05 * (torch.rand(len(pts), 3, generator=g) - 0.5)).clamp(0, 1)
    return _assemble([(pts, col, 0)], ("ball",), h, dict(seed=seed, radius=radius, n_gaussians=n_gaussians, stripes=stripes))


def box(seed: int = 0, size=(0.6, 0.6, 0.6), n_gaussians: int = 20000, checker: int = 3) -> ProceduralObject:
    """A solid box resting on z = 0, centred in x and y, coloured as a `checker`^3 checkerboard."""
    g = torch.Generator().manual_seed(seed)
    size = [float(s) for s in size]
    h = spacing_for(size[0] * size[1] * size[2], n_gaussians)
    pts = sample_box(size, h, g)
    cell = ((pts / torch.tensor(size) + 0.5) * checker).floor().long().clamp(0, checker - 1).sum(1) % 2
    col = torch.where(cell[:, None] == 0, torch.tensor([0.2, 0.45, 0.9]), torch.tensor([0.95, 0.8, 0.2]))
    col = (col + 0.05 * (torch.rand(len(pts), 3, generator=g) - 0.5)).clamp(0, 1)
    pts = pts + torch.tensor([0.0, 0.0, size[2] / 2])
    return _assemble([(pts, col, 0)], ("box",), h, dict(seed=seed, size=size, n_gaussians=n_gaussians, checker=checker))


def plant(seed: int = 0, height: float = 1.0, n_leaves: int = 8, leaf_length: float = 0.34,
          n_gaussians: int = 20000, stem_radius: float = 0.02) -> ProceduralObject:
    """A potted plant: a terracotta pot (part 'pot', z in [0, 0.2 height]), a gently curved stem
    ('stem', radius `stem_radius` x height) and `n_leaves` leaves ('leaves') spiralling up the
    stem, tilted upwards."""
    g = torch.Generator().manual_seed(seed)
    pot_r, pot_h = 0.18 * height, 0.2 * height
    stem_r = stem_radius * height
    lean = (torch.rand(2, generator=g) - 0.5) * 0.12 * height
    s = torch.linspace(0, 1, 12)[:, None]
    stem_path = torch.cat([lean[None] * s**2, pot_h + (height - pot_h) * s], 1)  # (12, 3)
    leaf_radii = [leaf_length / 2, 0.28 * leaf_length, 0.03 * leaf_length]
    volume = (math.pi * pot_r**2 * pot_h + math.pi * stem_r**2 * (height - pot_h)
              + n_leaves * 4 / 3 * math.pi * leaf_radii[0] * leaf_radii[1] * leaf_radii[2])
    h = spacing_for(volume, n_gaussians)

    pot = sample_cylinder(pot_r, pot_h, h, g)
    pot_col = _shade((0.72, 0.36, 0.2), len(pot), g)
    pot_col[pot[:, 2] > pot_h - 1.5 * h] = _shade((0.3, 0.2, 0.12), int((pot[:, 2] > pot_h - 1.5 * h).sum()), g)  # soil
    stem = sample_tube(stem_path, stem_r, h, g)
    pieces = [(pot, pot_col, 0), (stem, _shade((0.3, 0.5, 0.15), len(stem), g), 1)]
    golden = math.pi * (3 - math.sqrt(5))
    for i in range(n_leaves):
        t = 0.35 + 0.6 * (i + 0.5) / n_leaves  # position along the stem
        attach = torch.cat([lean * t**2, torch.tensor([pot_h + (height - pot_h) * t])])
        # A leaf is one layer of Gaussians flattened along its normal (thinner than the spacing).
        leaf = sample_ellipsoid(leaf_radii[:2] + [h], h, g) * torch.tensor([1.0, 1.0, 0.0])
        leaf = leaf + torch.tensor([leaf_radii[0], 0.0, 0.0])
        tilt = axis_angle_to_rotmat([0.0, 1.0, 0.0], -0.5 + 0.2 * float(torch.rand(1, generator=g)))
        R = rotation_z(i * golden + float(torch.rand(1, generator=g))) @ tilt
        leaf = leaf @ R.T + attach
        green = (0.15 + 0.1 * float(torch.rand(1, generator=g)), 0.55 + 0.2 * float(torch.rand(1, generator=g)), 0.15)
        colors = _shade(green, len(leaf), g)
        scales = torch.tensor([0.5 * h, 0.5 * h, min(0.5 * h, leaf_radii[2])]).expand(len(leaf), 3)
        flat = GaussianCloud.from_activated(leaf, scales, colors, 0.95, quats=rotmat_to_quat(R).expand(len(leaf), 4))
        pieces.append((leaf, colors, 2, flat))
    return _assemble(pieces, ("pot", "stem", "leaves"), h,
                     dict(seed=seed, height=height, n_leaves=n_leaves, leaf_length=leaf_length, n_gaussians=n_gaussians,
                          stem_radius=stem_radius))


def cable(seed: int = 0, length: float = 1.6, radius: float = 0.03, n_gaussians: int = 8000,
          anchor_length: float = 0.08) -> ProceduralObject:
    """A straight rope along x from -length/2 to length/2 at z = 0 with a twisted two-tone pattern;
    parts 'anchor_a', 'rope', 'anchor_b' (the last `anchor_length` m at each end) for hanging it."""
    g = torch.Generator().manual_seed(seed)
    h = min(spacing_for(math.pi * radius**2 * length, n_gaussians), radius)
    path = torch.tensor([[-length / 2, 0.0, 0.0], [length / 2, 0.0, 0.0]])
    pts = sample_tube(path, radius, h, g)
    twist = (torch.atan2(pts[:, 2], pts[:, 1]) + pts[:, 0] / radius) / math.pi * 2
    col = torch.where((twist.floor().long() % 2)[:, None] == 0, torch.tensor([0.85, 0.7, 0.45]), torch.tensor([0.5, 0.32, 0.18]))
    part = torch.ones(len(pts), dtype=torch.long)
    part[pts[:, 0] < -length / 2 + anchor_length] = 0
    part[pts[:, 0] > length / 2 - anchor_length] = 2
    pieces = [(pts[part == k], col[part == k], k) for k in range(3)]
    return _assemble(pieces, ("anchor_a", "rope", "anchor_b"), h,
                     dict(seed=seed, length=length, radius=radius, n_gaussians=n_gaussians, anchor_length=anchor_length))


# what each parameter's number means (`invgfx scenes list` prints it beside the default)
UNITS = {
    "radius": "m", "size": "m along x, y, z", "height": "m", "leaf_length": "m", "stem_radius": "x height",
    "length": "m", "anchor_length": "m", "seat_width": "m", "seat_depth": "m", "seat_height": "m",
    "back_height": "m", "leg_thickness": "m", "n_gaussians": "Gaussians (about)", "stripes": "segments",
    "checker": "cells along each side", "n_leaves": "leaves", "colors": "two RGB colours, 0 to 1",
    "arms": "true or false",
}
# the chair's proportions left unset are drawn uniformly from these ranges (m); arms with this chance
CHAIR_RANGES = {"seat_width": (0.4, 0.6), "seat_depth": (0.38, 0.55), "seat_height": (0.38, 0.5),
                "back_height": (0.3, 0.55), "leg_thickness": (0.03, 0.06)}
CHAIR_ARMS_CHANCE = 0.35


def chair(seed: int = 0, seat_width: float | None = None, seat_depth: float | None = None,
          seat_height: float | None = None, back_height: float | None = None, leg_thickness: float | None = None,
          arms: bool | None = None, n_gaussians: int = 20000) -> ProceduralObject:
    """A chair standing on z = 0, facing -y: four legs, a seat, a back rest and optional arm rests.
    Unset proportions are drawn from the seed (so a seed is an identity); parts 'legs', 'seat', 'back', 'arms'."""
    g = torch.Generator().manual_seed(seed)

    def draw(value, lo, hi):
        r = float(torch.rand(1, generator=g))
        return float(value) if value is not None else lo + (hi - lo) * r

    w = draw(seat_width, *CHAIR_RANGES["seat_width"])
    d = draw(seat_depth, *CHAIR_RANGES["seat_depth"])
    sh = draw(seat_height, *CHAIR_RANGES["seat_height"])
    bh = draw(back_height, *CHAIR_RANGES["back_height"])
    lt = draw(leg_thickness, *CHAIR_RANGES["leg_thickness"])
    has_arms = bool(arms) if arms is not None else bool(torch.rand(1, generator=g) < CHAIR_ARMS_CHANCE)
    seat_t, back_t = 0.05, 0.04
    # (centre, size, part) of every board
    boards = [((sx * (w - lt) / 2, sy * (d - lt) / 2, (sh - seat_t) / 2), (lt, lt, sh - seat_t), 0)
              for sx in (-1, 1) for sy in (-1, 1)]
    boards.append(((0.0, 0.0, sh - seat_t / 2), (w, d, seat_t), 1))
    boards.append(((0.0, d / 2 - back_t / 2, sh + bh / 2), (w, back_t, bh), 2))
    if has_arms:
        arm_h = 0.2
        boards += [((sx * (w / 2 - lt / 2), 0.0, sh + arm_h), (lt, d * 0.9, lt), 3) for sx in (-1, 1)]
        boards += [((sx * (w / 2 - lt / 2), -d / 2 + lt, sh + arm_h / 2), (lt, lt, arm_h), 3) for sx in (-1, 1)]
    volume = sum(s[0] * s[1] * s[2] for _, s, _ in boards)
    h = min(spacing_for(volume, n_gaussians), lt / 1.5)
    wood = torch.tensor([0.55, 0.35, 0.2]) + 0.25 * (torch.rand(3, generator=g) - 0.5)
    cushion = torch.rand(3, generator=g) * 0.6 + 0.2
    pieces = []
    for centre, size, part in boards:
        pts = sample_box(size, h, g) + torch.tensor(centre)
        pieces.append((pts, _shade(cushion if part == 1 else wood, len(pts), g), part))
    return _assemble(pieces, ("legs", "seat", "back", "arms"), h,
                     dict(seed=seed, seat_width=w, seat_depth=d, seat_height=sh, back_height=bh,
                          leg_thickness=lt, arms=has_arms, n_gaussians=n_gaussians))
