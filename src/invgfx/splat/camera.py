"""Pinhole cameras, orbit cameras, camera paths and the `cameras.json` of 3DGS trainers.

Convention (as OpenCV, COLMAP and gsplat): camera x right, y down, z forward; `viewmat` maps
world points to camera points; pixel (row i, col j) has its centre at (j + 0.5, i + 0.5).
Angles are radians here; the PhysGaussian config keys (degrees) are converted in
`camera_from_physgaussian`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from invgfx.splat.errors import SplatError


@dataclass
class Camera:
    """viewmat: (4, 4) world -> camera; K: (3, 3) intrinsics in pixels; width, height in pixels."""

    viewmat: Tensor
    K: Tensor
    width: int
    height: int

    @property
    def position(self) -> Tensor:
        """(3,) camera centre in world space."""
        R, t = self.viewmat[:3, :3], self.viewmat[:3, 3]
        return -R.T @ t

    @property
    def camera_to_world(self) -> Tensor:
        return torch.linalg.inv(self.viewmat)

    def to(self, device=None, dtype=None) -> "Camera":
        return Camera(self.viewmat.to(device, dtype), self.K.to(device, dtype), self.width, self.height)

    def resized(self, width: int, height: int) -> "Camera":
        """The same view at another resolution (intrinsics scaled)."""
        K = self.K.clone()
        K[0] *= width / self.width
        K[1] *= height / self.height
        return Camera(self.viewmat, K, width, height)


def intrinsics_from_fov(fov_y: float, width: int, height: int, fov_x: float | None = None) -> Tensor:
    """(3, 3) K for vertical field of view `fov_y` (radians) with the principal point at the centre.
    Square pixels unless `fov_x` is given."""
    fy = 0.5 * height / math.tan(0.5 * fov_y)
    fx = fy if fov_x is None else 0.5 * width / math.tan(0.5 * fov_x)
    return torch.tensor([[fx, 0.0, width / 2], [0.0, fy, height / 2], [0.0, 0.0, 1.0]])


def look_at(eye, target, up=(0.0, 0.0, 1.0), fov_y: float = math.radians(45), width: int = 256,
            height: int = 256) -> Camera:
    """Camera at `eye` (3,) looking at `target` (3,) with image-up along `up` (3,), all world space."""
    eye, target, up = (torch.as_tensor(v, dtype=torch.float64) for v in (eye, target, up))
    forward = target - eye
    if forward.norm() < 1e-12:
        raise SplatError("look_at: eye and target are the same point")
    forward = forward / forward.norm()
    right = torch.linalg.cross(forward, up)
    if right.norm() < 1e-9:
        raise SplatError(f"look_at: the view direction is parallel to up={up.tolist()}; choose another up")
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    R = torch.stack([right, down, forward])  # rows: camera axes in world space
    viewmat = torch.eye(4, dtype=torch.float64)
    viewmat[:3, :3] = R
    viewmat[:3, 3] = -R @ eye
    return Camera(viewmat.float(), intrinsics_from_fov(fov_y, width, height), width, height)


def orbit_basis(up) -> tuple[Tensor, Tensor, Tensor]:
    """Unit (e1, e2, up) right-handed basis; azimuth 0 points along e1, azimuth pi/2 along e2.
    For up = +z this is (x, y, z)."""
    up = torch.as_tensor(up, dtype=torch.float64)
    up = up / up.norm()
    seed = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    if abs(float(up @ seed)) > 0.9:
        seed = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    e1 = seed - (seed @ up) * up
    e1 = e1 / e1.norm()
    return e1, torch.linalg.cross(up, e1), up


def physgaussian_orbit_basis(up) -> tuple[Tensor, Tensor, Tensor]:
    """PhysGaussian's orbit frame (`generate_local_coord`): e1 is (1, 1, 1) made orthogonal to
    `up` ((0.72, 0.37, -0.67) when (1, 1, 1) is within 0.01 of orthogonal to it), e2 = e1 x up.
    Azimuth 0 points along e1, azimuth pi/2 along e2 (clockwise seen from above)."""
    up = torch.as_tensor(up, dtype=torch.float64)
    up = up / up.norm()
    e1 = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    if abs(float(e1 @ up)) < 0.01:
        e1 = torch.tensor([0.72, 0.37, -0.67], dtype=torch.float64)
    e1 = e1 - (e1 @ up) * up
    e1 = e1 / e1.norm()
    return e1, torch.linalg.cross(e1, up), up


def orbit_camera(azimuth: float, elevation: float, radius: float, center=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0),
                 fov_y: float = math.radians(45), width: int = 256, height: int = 256, basis=None,
                 K: Tensor | None = None) -> Camera:
    """Camera on a sphere around `center` looking at it; azimuth about `up` and elevation above
    the horizontal plane in radians, radius in m. basis: (e1, e2, up) of the azimuth (default
    `orbit_basis(up)`); K: (3, 3) intrinsics in pixels instead of `fov_y`."""
    e1, e2, u = orbit_basis(up) if basis is None else basis
    center = torch.as_tensor(center, dtype=torch.float64)
    direction = math.cos(elevation) * (math.cos(azimuth) * e1 + math.sin(azimuth) * e2) + math.sin(elevation) * u
    camera = look_at(center + radius * direction, center, u, fov_y, width, height)
    return camera if K is None else Camera(camera.viewmat, K.float(), width, height)


def orbit_path(n_frames: int, elevation: float, radius: float, center=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0),
               start_azimuth: float = 0.0, turns: float = 1.0, **camera_kw) -> list[Camera]:
    """`n_frames` cameras going `turns` times round `center` at a fixed elevation (radians)."""
    return [
        orbit_camera(start_azimuth + 2 * math.pi * turns * i / n_frames, elevation, radius, center, up, **camera_kw)
        for i in range(n_frames)
    ]


def static_path(camera: Camera, n_frames: int) -> list[Camera]:
    return [camera] * n_frames


def camera_from_physgaussian(config: dict, frame: int = 0, fov_y: float = math.radians(45), width: int = 256,
                             height: int = 256, world_to_sim: tuple[Tensor, float] | None = None,
                             K: Tensor | None = None) -> Camera:
    """The orbit camera of a PhysGaussian/DreamPhysics scene config (keys in degrees, as they store them):
    `init_azimuthm`, `init_elevation`, `init_radius`, `mpm_space_viewpoint_center`,
    `mpm_space_vertical_upward_axis`, and with `move_camera` the per-frame `delta_a`, `delta_e`, `delta_r`,
    in PhysGaussian's orbit frame (`physgaussian_orbit_basis`). The camera lives in the simulation
    (MPM) space of the config.

    world_to_sim: (rotation (3, 3), scale) of the config's normalisation, x_sim = scale rotation x + t.
    PhysGaussian orbits in world space (`get_camera_view`): the frame is built around the world's
    image of the up axis and the radius is in world units; given the map, so is this camera (seen
    from simulation space). Without it, the radius and frame are those of simulation space.
    K: (3, 3) intrinsics (e.g. of the capture's first camera, as PhysGaussian uses) instead of fov_y."""
    def get(key, default):
        value = config.get(key, default)
        if value is None:
            return default
        return value

    try:
        az = float(get("init_azimuthm", 0.0))
        el = float(get("init_elevation", 0.0))
        r = float(get("init_radius", 2.0))
        center = [float(v) for v in get("mpm_space_viewpoint_center", [1.0, 1.0, 1.0])]
        up = [float(v) for v in get("mpm_space_vertical_upward_axis", [0.0, 0.0, 1.0])]
    except (TypeError, ValueError) as err:
        raise SplatError(f"camera keys of the scene config: {err}") from None
    if len(center) != 3 or len(up) != 3:
        raise SplatError("mpm_space_viewpoint_center and mpm_space_vertical_upward_axis must be 3 numbers each")
    if not any(up):
        raise SplatError("mpm_space_vertical_upward_axis is the zero vector; give the up direction, e.g. [0, 0, 1]")
    if get("move_camera", False):
        az += frame * float(get("delta_a", 0.0))
        el += frame * float(get("delta_e", 0.0))
        r += frame * float(get("delta_r", 0.0))
    if r <= 0:
        raise SplatError(f"init_radius must be positive (got {r})")
    up_sim = torch.tensor(up, dtype=torch.float64)
    up_sim = up_sim / up_sim.norm()
    if world_to_sim is None:
        basis = physgaussian_orbit_basis(up_sim)
    else:
        rotation, scale = torch.as_tensor(world_to_sim[0], dtype=torch.float64), float(world_to_sim[1])
        e1 = rotation @ physgaussian_orbit_basis(rotation.T @ up_sim)[0]
        basis, r = (e1, torch.linalg.cross(e1, up_sim), up_sim), r * scale
    return orbit_camera(math.radians(az), math.radians(el), r, center, up_sim, fov_y, width, height, basis=basis, K=K)


def camera_to_space(camera: Camera, rotation: Tensor, scale: float, shift: Tensor) -> Camera:
    """The same view after the world is mapped by x' = scale rotation x + shift: the camera centre
    moves with the world and turns with it; a uniform scale about it leaves the image unchanged."""
    R = torch.as_tensor(rotation, dtype=torch.float64)
    view = camera.viewmat.double()
    position = scale * R @ camera.position.double() + torch.as_tensor(shift, dtype=torch.float64)
    viewmat = torch.eye(4, dtype=torch.float64)
    viewmat[:3, :3] = view[:3, :3] @ R.T
    viewmat[:3, 3] = -viewmat[:3, :3] @ position
    return Camera(viewmat.float(), camera.K, camera.width, camera.height)


def load_cameras_json(path: str | Path) -> list[Camera]:
    """Cameras from the `cameras.json` written beside `point_cloud.ply` by 3DGS trainers:
    a list of {id, img_name, width, height, position [3], rotation [3][3] (camera-to-world), fx, fy}."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        raise SplatError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SplatError(f"{path}: not a JSON file ({err})") from None
    if not isinstance(entries, list) or not entries:
        raise SplatError(f"{path}: expected a non-empty JSON list of cameras")
    cameras = []
    for i, e in enumerate(entries):
        where = f"{path}: camera {i}" + (f" ({e.get('img_name')})" if isinstance(e, dict) and e.get("img_name") else "")
        if not isinstance(e, dict):
            raise SplatError(f"{where}: expected an object")
        missing = [k for k in ("width", "height", "position", "rotation", "fx", "fy") if k not in e]
        if missing:
            raise SplatError(f"{where}: missing key(s) {', '.join(missing)}")
        try:
            R = torch.tensor(e["rotation"], dtype=torch.float64)
            pos = torch.tensor(e["position"], dtype=torch.float64)
            w, h, fx, fy = int(e["width"]), int(e["height"]), float(e["fx"]), float(e["fy"])
        except (TypeError, ValueError) as err:
            raise SplatError(f"{where}: {err}") from None
        if R.shape != (3, 3) or pos.shape != (3,):
            raise SplatError(f"{where}: rotation must be 3x3 and position 3 numbers")
        viewmat = torch.eye(4, dtype=torch.float64)
        viewmat[:3, :3] = R.T
        viewmat[:3, 3] = -R.T @ pos
        K = torch.tensor([[fx, 0.0, w / 2], [0.0, fy, h / 2], [0.0, 0.0, 1.0]])
        cameras.append(Camera(viewmat.float(), K, w, h))
    return cameras


def save_cameras_json(cameras: list[Camera], path: str | Path) -> None:
    """Write cameras in the 3DGS `cameras.json` layout (readable by `load_cameras_json` and 3DGS viewers)."""
    entries = []
    for i, cam in enumerate(cameras):
        c2w = torch.linalg.inv(cam.viewmat.double())
        entries.append({
            "id": i, "img_name": f"{i:05d}", "width": cam.width, "height": cam.height,
            "position": c2w[:3, 3].tolist(), "rotation": c2w[:3, :3].tolist(),
            "fx": float(cam.K[0, 0]), "fy": float(cam.K[1, 1]),
        })
    Path(path).write_text(json.dumps(entries, indent=1))
