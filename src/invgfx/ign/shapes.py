"""Procedural objects with known factors, as Lambertian-shaded Gaussian surfels.

An object is a set of flat Gaussians ("surfels") on the surface of a few primitives, each with
an outward normal and an albedo. `render_object` turns it by the azimuth factor about +z, looks at
it from the elevation factor, shades every surfel by max(0, n . l) for the light-azimuth factor,
and renders the shaded grayscale with `invgfx.splat.render.render_gaussians`.

Four families (`FAMILIES`), which differ in what shows the pose:
- faces: cranium, face, jaw, nose, brow, ears, a hair bun at the back and a neck; the identity is
  their sizes and offsets. Front (+x: nose, brow) and back (bun) differ in bulk.
- chairs: seat, back, four legs, optional arms, varied proportions; pose shows in flat faces.
- teapots: a body of revolution with a lid knob on its axis, so only a thin spout (+x) and a thin
  handle (-x), 2-3 pixels wide at 64 px, show the azimuth; they are marked `thin` for the
  thin-part error (`thin_part_mask`).
- cars: body, cabin set back, four dark wheels, lit by a light fixed in the world rather than moving
  with the camera, so turning the car also moves its shading across the image.
Every family is left-right symmetric (y -> -y). Units: metres, radians; objects fit in a ~1.2 m
sphere around the origin.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from invgfx.splat.camera import orbit_camera
from invgfx.splat.geometry import covariance_from_quat_scale, rotmat_to_quat
from invgfx.splat.render import render_gaussians

LIGHT_ELEVATION = 0.35  # rad; the light sweeps left-right at this height above the horizon
AMBIENT = 0.12
CAMERA_RADIUS = 4.4  # m
CAMERA_FOV = math.radians(34)


@dataclass
class Surfels:
    """N oriented surface samples. means, normals (N, 3); albedo (N,) in [0, 1]; spacing in m;
    thin (N,) bool: the sample belongs to a part a few pixels wide (None: none does)."""

    means: np.ndarray
    normals: np.ndarray
    albedo: np.ndarray
    spacing: float
    thin: np.ndarray | None = None

    def thin_flags(self) -> np.ndarray:
        return np.zeros(len(self.means), bool) if self.thin is None else self.thin

    def subset(self, keep: np.ndarray) -> "Surfels":
        return Surfels(self.means[keep], self.normals[keep], self.albedo[keep], self.spacing, self.thin_flags()[keep])

    def marked_thin(self) -> "Surfels":
        return Surfels(self.means, self.normals, self.albedo, self.spacing, np.ones(len(self.means), bool))

    @staticmethod
    def concat(parts: list["Surfels"], spacing: float) -> "Surfels":
        return Surfels(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("means", "normals", "albedo")), spacing,
                       np.concatenate([p.thin_flags() for p in parts]))


def fibonacci_sphere(n: int) -> np.ndarray:
    """(n, 3) nearly uniform unit vectors."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = math.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)


def ellipsoid_surfels(center, radii, albedo: float, spacing: float) -> Surfels:
    """Surfels on an axis-aligned ellipsoid; count from its (Knud Thomsen) surface area / spacing^2."""
    a, b, c = radii
    p = 1.6075
    area = 4 * math.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3) ** (1 / p)
    u = fibonacci_sphere(max(int(area / spacing**2), 8))
    r = np.asarray(radii, dtype=np.float64)
    normals = u / r  # gradient of |x / r|^2 at x = r u
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return Surfels(np.asarray(center) + u * r, normals, np.full(len(u), albedo), spacing)


def box_surfels(center, half, albedo: float, spacing: float) -> Surfels:
    """Surfels on the six faces of an axis-aligned box with half-extents `half` (3,)."""
    center, half = np.asarray(center, dtype=np.float64), np.asarray(half, dtype=np.float64)
    means, normals = [], []
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        nu, nv = (max(int(round(2 * half[a] / spacing)), 1) for a in (u, v))
        gu = (np.arange(nu) + 0.5) / nu * 2 - 1
        gv = (np.arange(nv) + 0.5) / nv * 2 - 1
        uu, vv = (g.ravel() for g in np.meshgrid(gu, gv, indexing="ij"))
        for sign in (-1.0, 1.0):
            p = np.zeros((uu.size, 3))
            p[:, axis], p[:, u], p[:, v] = sign * half[axis], uu * half[u], vv * half[v]
            n = np.zeros_like(p)
            n[:, axis] = sign
            means.append(center + p)
            normals.append(n)
    means = np.concatenate(means)
    return Surfels(means, np.concatenate(normals), np.full(len(means), albedo), spacing)


def tube_surfels(path, radius: float, albedo: float, spacing: float) -> Surfels:
    """Surfels on a tube of `radius` around the polyline `path` (K, 3), open at both ends; rings every
    `spacing` along each segment, at least 6 samples around."""
    path = np.asarray(path, dtype=np.float64)
    around = max(6, int(math.ceil(2 * math.pi * radius / spacing)))
    phi = 2 * math.pi * (np.arange(around) + 0.5) / around
    means, normals = [], []
    for p0, p1 in zip(path[:-1], path[1:]):
        length = float(np.linalg.norm(p1 - p0))
        t = (p1 - p0) / length
        helper = np.array([0.0, 0.0, 1.0]) if abs(t[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        u = np.cross(t, helper)
        u /= np.linalg.norm(u)
        v = np.cross(t, u)
        ring = np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * v  # (around, 3) unit radial directions
        along = (np.arange(max(1, int(math.ceil(length / spacing)))) + 0.5) / max(1, int(math.ceil(length / spacing)))
        centres = p0 + along[:, None] * (p1 - p0)
        means.append((centres[:, None] + radius * ring[None]).reshape(-1, 3))
        normals.append(np.broadcast_to(ring, (len(along), around, 3)).reshape(-1, 3))
    means = np.concatenate(means)
    return Surfels(means, np.concatenate(normals), np.full(len(means), albedo), spacing)


def _inside_tube(points: np.ndarray, path, radius: float, margin: float = 0.98) -> np.ndarray:
    """Points closer than margin * radius to the polyline `path` (K, 3)."""
    path = np.asarray(path, dtype=np.float64)
    near = np.zeros(len(points), bool)
    for p0, p1 in zip(path[:-1], path[1:]):
        d = p1 - p0
        t = np.clip((points - p0) @ d / (d @ d), 0.0, 1.0)
        near |= np.linalg.norm(points - (p0 + t[:, None] * d), axis=1) < margin * radius
    return near


def _inside_ellipsoid(points: np.ndarray, center, radii, margin: float = 0.98) -> np.ndarray:
    return (((points - np.asarray(center)) / np.asarray(radii)) ** 2).sum(1) < margin**2


def _inside_box(points: np.ndarray, center, half, margin: float = 0.98) -> np.ndarray:
    return (np.abs(points - np.asarray(center)) < margin * np.asarray(half)).all(1)


def union(parts: list[tuple[Surfels, Callable[[np.ndarray], np.ndarray]]], spacing: float) -> Surfels:
    """Surfels of the union of primitives: drop each part's samples that lie inside another part.
    `parts` is a list of (surfels, inside(points) -> bool mask)."""
    kept = []
    for i, (s, _) in enumerate(parts):
        hidden = np.zeros(len(s.means), dtype=bool)
        for j, (_, inside) in enumerate(parts):
            if j != i:
                hidden |= inside(s.means)
        kept.append(s.subset(~hidden))
    return Surfels.concat(kept, spacing)


def head_parameters(rng: np.random.Generator) -> dict[str, tuple]:
    """Identity of a faces-like head: part name -> (center (3,), radii (3,), albedo). Faces +x."""
    def jitter(center, radii, albedo, scale=0.15, shift=0.04):
        return (np.asarray(center) + rng.normal(0, shift, 3) * [1, 0, 1],  # keep left-right symmetry
                np.asarray(radii) * rng.uniform(1 - scale, 1 + scale, 3), albedo)

    skin = rng.uniform(0.6, 0.95)
    ear_r = rng.uniform(0.8, 1.2)
    params = {
        "cranium": jitter((0.0, 0.0, 0.15), (0.55, 0.47, 0.58), skin, 0.1),
        "face": jitter((0.18, 0.0, -0.15), (0.42, 0.38, 0.45), skin),
        "jaw": jitter((0.22, 0.0, -0.45), (0.3, 0.3, 0.2), skin, 0.25),
        "nose": jitter((0.58, 0.0, -0.08), (0.14, 0.07, 0.15), skin, 0.3),
        "brow": jitter((0.45, 0.0, 0.15), (0.14, 0.36, 0.07), skin * 0.8, 0.2),
        "bun": jitter((-0.5, 0.0, 0.3), (0.22, 0.28, 0.26), rng.uniform(0.15, 0.45), 0.3),
        "neck": jitter((-0.05, 0.0, -0.8), (0.22, 0.22, 0.35), skin, 0.1),
    }
    for side in (-1, 1):
        params[f"ear{side:+d}"] = ((0.0, side * params["cranium"][1][1] * 0.95, -0.05),
                                  np.array([0.09, 0.05, 0.15]) * ear_r, skin * 0.9)
    return params


def make_head(rng: np.random.Generator, spacing: float = 0.045) -> Surfels:
    parts = [(ellipsoid_surfels(c, r, a, spacing), lambda p, c=c, r=r: _inside_ellipsoid(p, c, r))
             for c, r, a in head_parameters(rng).values()]
    return union(parts, spacing)


def chair_parameters(rng: np.random.Generator) -> dict[str, tuple]:
    """Identity of a chairs-like object: part name -> (center (3,), half extents (3,), albedo).
    The seat faces +x; the back is at -x; arms are optional."""
    w = rng.uniform(0.45, 0.75)       # seat half width (y)
    d = rng.uniform(0.4, 0.65)        # seat half depth (x)
    t = rng.uniform(0.04, 0.1)        # seat half thickness
    h = rng.uniform(0.15, 0.55)       # seat height above the floor plane z = -0.9
    back_h = rng.uniform(0.35, 0.8)   # back half height
    leg = rng.uniform(0.04, 0.09)     # leg half width
    wood, cloth = rng.uniform(0.35, 0.7), rng.uniform(0.6, 0.95)
    floor = -0.9
    seat_z = floor + 2 * h
    params = {
        "seat": ((0.0, 0.0, seat_z), (d, w, t), cloth),
        "back": ((-d + 0.05, 0.0, seat_z + t + back_h), (0.05, w, back_h), cloth),
    }
    for i, (sx, sy) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)]):
        params[f"leg{i}"] = ((sx * (d - leg), sy * (w - leg), floor + h - t / 2), (leg, leg, h - t / 2), wood)
    if rng.random() < 0.5:
        arm_h = rng.uniform(0.12, 0.3)
        for side in (-1, 1):
            params[f"arm{side:+d}"] = ((0.0, side * (w - 0.04), seat_z + t + arm_h), (d * 0.9, 0.04, arm_h), wood)
    return params


def make_chair(rng: np.random.Generator, spacing: float = 0.045) -> Surfels:
    parts = [(box_surfels(c, hf, a, spacing), lambda p, c=c, hf=hf: _inside_box(p, c, hf))
             for c, hf, a in chair_parameters(rng).values()]
    return union(parts, spacing)


def teapot_parameters(rng: np.random.Generator) -> dict:
    """Identity of a teapot: a body of revolution about z (radius a, half height c), a lid knob on its
    axis, a spout (tube polyline, +x) and a handle (an arc in the x-z plane, -x); sizes in m."""
    a, c = rng.uniform(0.5, 0.7), rng.uniform(0.38, 0.55)
    zc = -0.1
    length, rise = rng.uniform(0.3, 0.5), rng.uniform(0.2, 0.45)
    s = np.linspace(0.0, 1.0, 5)[:, None]
    spout = np.hstack([0.6 * a + (length + 0.4 * a) * s, 0 * s, zc - 0.25 * c + (rise + 0.25 * c) * s ** 1.5])
    arc_r = rng.uniform(0.6, 0.8) * c
    theta = np.linspace(-math.pi / 2, math.pi / 2, 9)[:, None]
    handle = np.hstack([-0.55 * a - arc_r * rng.uniform(0.8, 1.3) * np.cos(theta), 0 * theta, zc + arc_r * np.sin(theta)])
    return {"body": ((0.0, 0.0, zc), (a, a, c)), "knob": ((0.0, 0.0, zc + c), np.array([1, 1, 0.8]) * rng.uniform(0.07, 0.12)),
            "spout": (spout, rng.uniform(0.035, 0.055)), "handle": (handle, rng.uniform(0.03, 0.045)),
            "albedo": rng.uniform(0.5, 0.95)}


def make_teapot(rng: np.random.Generator, spacing: float = 0.03) -> Surfels:
    """Finer samples than the other families (0.03 m), so that the thin tubes are closed surfaces."""
    p = teapot_parameters(rng)
    albedo = p["albedo"]
    parts = [(ellipsoid_surfels(c, r, albedo, spacing), lambda x, c=c, r=r: _inside_ellipsoid(x, c, r))
             for c, r in (p["body"], p["knob"])]
    parts += [(tube_surfels(path, r, albedo, spacing).marked_thin(), lambda x, path=path, r=r: _inside_tube(x, path, r))
              for path, r in (p["spout"], p["handle"])]
    return union(parts, spacing)


def car_parameters(rng: np.random.Generator) -> dict[str, tuple]:
    """Identity of a car: part name -> (center (3,), half extents or radii (3,), albedo, shape).
    Front is +x; wheels are flat ellipsoids. The cabin is set back by 0.3-0.5 of the half length,
    so that front and back differ: a car symmetric front to back looks the same from its two sides
    (azimuth +-pi/2), and no code can tell those azimuths apart (the first cars, set back by 0-0.35,
    taught a folded azimuth latent; docs/ign.md)."""
    L, W, H = rng.uniform(0.7, 0.95), rng.uniform(0.33, 0.45), rng.uniform(0.12, 0.2)
    wheel = rng.uniform(0.14, 0.2)
    z_body = -0.55 + wheel + H * 0.6
    paint = rng.uniform(0.45, 0.95)
    cab_l, cab_h = L * rng.uniform(0.3, 0.45), rng.uniform(0.12, 0.2)
    cab_x = -L * rng.uniform(0.3, 0.5)
    params = {"body": ((0.0, 0.0, z_body), (L, W, H), paint, "box"),
              "cabin": ((cab_x, 0.0, z_body + H + cab_h), (cab_l, 0.85 * W, cab_h), paint * 0.85, "box")}
    for i, (sx, sy) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)]):
        params[f"wheel{i}"] = ((sx * 0.65 * L, sy * W, -0.55 + wheel), (wheel, 0.06, wheel), 0.15, "ellipsoid")
    return params


def make_car(rng: np.random.Generator, spacing: float = 0.045) -> Surfels:
    parts = []
    for c, r, a, shape in car_parameters(rng).values():
        if shape == "box":
            parts.append((box_surfels(c, r, a, spacing), lambda p, c=c, r=r: _inside_box(p, c, r)))
        else:
            parts.append((ellipsoid_surfels(c, r, a, spacing), lambda p, c=c, r=r: _inside_ellipsoid(p, c, r)))
    return union(parts, spacing)


@dataclass(frozen=True)
class Family:
    """A procedural object family: its maker (rng -> Surfels) and where its light is fixed: "camera"
    (the light azimuth is measured from the camera, so it moves with it) or "world"."""

    make: Callable[[np.random.Generator], Surfels]
    light_frame: str = "camera"


FAMILIES = {"faces": Family(make_head), "chairs": Family(make_chair), "teapots": Family(make_teapot),
            "cars": Family(make_car, "world")}


@dataclass
class GaussianObject:
    """Surfels as Gaussians ready to render: means, normals (N, 3), albedo, opacities (N,), covars (N, 3, 3);
    thin (N,) bool marks thin parts; light_frame "camera" or "world" (see Family)."""

    means: torch.Tensor
    normals: torch.Tensor
    albedo: torch.Tensor
    opacities: torch.Tensor
    covars: torch.Tensor
    thin: torch.Tensor
    light_frame: str = "camera"

    def without_thin_parts(self) -> "GaussianObject":
        keep = ~self.thin
        return GaussianObject(self.means[keep], self.normals[keep], self.albedo[keep], self.opacities[keep],
                              self.covars[keep], self.thin[keep], self.light_frame)


def family_object(family: str, seed: int, identity: int) -> GaussianObject:
    """Identity `identity` of `family` in a dataset of `seed`: each object is built from its own seed,
    so any process builds the same one."""
    fam = FAMILIES[family]
    return to_gaussians(fam.make(np.random.default_rng([seed, 2, identity])), fam.light_frame)


def to_gaussians(s: Surfels, light_frame: str = "camera") -> GaussianObject:
    """Flat Gaussians tangent to the surface: std 0.6 spacing along it, 0.1 spacing along the normal."""
    n = torch.as_tensor(s.normals, dtype=torch.float32)
    helper = torch.where((n[:, :1].abs() < 0.9), torch.tensor([[1.0, 0, 0]]), torch.tensor([[0, 1.0, 0]]))
    t1 = torch.nn.functional.normalize(torch.linalg.cross(n, helper), dim=1)
    t2 = torch.linalg.cross(n, t1)
    quats = rotmat_to_quat(torch.stack([t1, t2, n], dim=2))  # columns: local x, y, z = normal
    scales = torch.tensor([0.6, 0.6, 0.1]) * s.spacing
    covars = covariance_from_quat_scale(quats, scales.expand(len(n), 3))
    return GaussianObject(torch.as_tensor(s.means, dtype=torch.float32), n,
                          torch.as_tensor(s.albedo, dtype=torch.float32), torch.full((len(n),), 0.95), covars,
                          torch.as_tensor(s.thin_flags()), light_frame)


@contextmanager
def single_thread():
    """Run torch on one thread: small renders are fastest so and do not fight other jobs for cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def rot_z(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def light_direction(light_azimuth: float) -> torch.Tensor:
    """(3,) unit vector towards the light; azimuth 0 is the camera's side (+x), +pi/2 is +y."""
    ce = math.cos(LIGHT_ELEVATION)
    return torch.tensor([ce * math.cos(light_azimuth), ce * math.sin(light_azimuth), math.sin(LIGHT_ELEVATION)])


def render_object(obj: GaussianObject, azimuth: float, elevation: float, light: float, size: int) -> torch.Tensor:
    """Grayscale (size, size) in [0, 1] of `obj` turned by `azimuth` about +z, seen from `elevation`
    by a camera on the +x side, lit from `light` azimuth (radians), measured from the camera (the light
    stays with it) or, for obj.light_frame "world", from the object's own +x (it turns with the object).
    4-pixel tiles: these objects' surfels cover a few pixels each, and smaller tiles test fewer
    (pixel, surfel) pairs, 1.7x faster than 8 at 64 px and 1.3x at 150 px for the same images."""
    R = rot_z(azimuth)
    normals = obj.normals @ R.T if obj.light_frame == "camera" else obj.normals
    shade = AMBIENT + (1 - AMBIENT) * obj.albedo * (normals @ light_direction(light)).clamp_min(0)
    cam = orbit_camera(0.0, elevation, CAMERA_RADIUS, fov_y=CAMERA_FOV, width=size, height=size)
    out = render_gaussians(obj.means @ R.T, obj.opacities, shade[:, None].expand(-1, 3).contiguous(), cam.viewmat,
                           cam.K, size, size, covars=R @ obj.covars @ R.T, tile_size=4)
    return out.rgb[0].clamp(0, 1)


def thin_part_mask(obj: GaussianObject, azimuth: float, elevation: float, light: float, size: int,
                   threshold: float = 0.05) -> np.ndarray:
    """(size, size) bool: the pixels that obj's thin parts change by more than `threshold` (gray in
    [0, 1]), found by rendering the object without them; all False for an object without thin parts."""
    if not bool(obj.thin.any()):
        return np.zeros((size, size), bool)
    full = render_object(obj, azimuth, elevation, light, size)
    body = render_object(obj.without_thin_parts(), azimuth, elevation, light, size)
    return ((full - body).abs() > threshold).numpy()
