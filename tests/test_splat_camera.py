"""Cameras: look-at and orbit geometry, PhysGaussian keys, the 3DGS cameras.json."""

import json
import math

import pytest
import torch

from invgfx.splat.camera import (
    camera_from_physgaussian, load_cameras_json, look_at, orbit_camera, orbit_path, save_cameras_json,
)
from invgfx.splat.errors import SplatError


def project(cam, x):
    p = cam.viewmat[:3, :3] @ torch.as_tensor(x, dtype=torch.float32) + cam.viewmat[:3, 3]
    uv = cam.K @ (p / p[2])
    return uv[:2], p[2]


def test_look_at_centres_the_target_and_keeps_up_up():
    cam = look_at([3.0, 1.0, 2.0], [0.5, 0.2, 0.1], up=[0, 0, 1], width=64, height=48)
    uv, z = project(cam, [0.5, 0.2, 0.1])
    assert torch.allclose(uv, torch.tensor([32.0, 24.0]), atol=1e-4) and z > 0
    above, _ = project(cam, [0.5, 0.2, 0.6])
    assert above[1] < 24.0  # image rows grow downwards: a point above the target is higher in the image
    assert torch.allclose(cam.position, torch.tensor([3.0, 1.0, 2.0]), atol=1e-5)


def test_orbit_camera_angles():
    cam = orbit_camera(math.radians(90), math.radians(30), 2.0, center=[1, 1, 1])
    expected = torch.tensor([1.0, 1.0 + 2 * math.cos(math.radians(30)), 1.0 + 2 * math.sin(math.radians(30))])
    assert torch.allclose(cam.position, expected, atol=1e-5)
    path = orbit_path(8, elevation=0.0, radius=3.0)
    assert len(path) == 8
    assert all(abs(float(c.position.norm()) - 3.0) < 1e-5 for c in path)
    assert torch.allclose(path[2].position, torch.tensor([0.0, 3.0, 0.0]), atol=1e-5)


def test_physgaussian_keys_in_degrees_and_moving_camera():
    cfg = {"init_azimuthm": 90.0, "init_elevation": 0.0, "init_radius": 2.0, "mpm_space_viewpoint_center": [1, 1, 1],
           "mpm_space_vertical_upward_axis": [0, 0, 1], "move_camera": True, "delta_a": 90.0, "delta_e": 0.0, "delta_r": 0.0}
    # PhysGaussian's frame for up = +z: azimuth 0 along (1, 1, 0) / sqrt 2, 90 degrees along (1, -1, 0) / sqrt 2
    r = math.sqrt(2.0)
    assert torch.allclose(camera_from_physgaussian(cfg).position, torch.tensor([1.0 + r, 1.0 - r, 1.0]), atol=1e-5)
    assert torch.allclose(camera_from_physgaussian(cfg, frame=1).position, torch.tensor([1.0 - r, 1.0 - r, 1.0]), atol=1e-5)
    # in world space (PhysGaussian's `get_camera_view`): the frame of the world's up, radius in world units
    R = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # x_sim = 0.5 R x_world + t
    cam = camera_from_physgaussian(cfg, world_to_sim=(R, 0.5))
    e1_world = torch.tensor([1.0, -1.0, 1.0]) - torch.tensor([0.0, -1.0, 0.0])  # (1, 1, 1) minus its part along up_w = -y
    e1 = R @ (e1_world / e1_world.norm())
    e2 = torch.linalg.cross(e1, torch.tensor([0.0, 0.0, 1.0]))
    assert torch.allclose(cam.position, torch.ones(3) + 2.0 * 0.5 * e2, atol=1e-5)
    with pytest.raises(SplatError, match="init_radius"):
        camera_from_physgaussian({"init_radius": -1})


def test_cameras_json_round_trip_and_3dgs_semantics(tmp_path):
    # 3DGS writes the camera-to-world rotation and the camera centre.
    c2w = torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # camera z (forward) = world x
    entry = {"id": 0, "img_name": "IMG_0001", "width": 80, "height": 60, "position": [-3.0, 0.5, 0.2],
             "rotation": c2w.tolist(), "fy": 70.0, "fx": 70.0}
    (tmp_path / "cameras.json").write_text(json.dumps([entry]))
    cam = load_cameras_json(tmp_path / "cameras.json")[0]
    uv, z = project(cam, [2.0, 0.5, 0.2])  # 5 m straight ahead
    assert torch.allclose(uv, torch.tensor([40.0, 30.0]), atol=1e-4) and abs(float(z) - 5.0) < 1e-5
    save_cameras_json([cam], tmp_path / "again.json")
    again = load_cameras_json(tmp_path / "again.json")[0]
    assert torch.allclose(again.viewmat, cam.viewmat, atol=1e-6) and torch.allclose(again.K, cam.K)


def test_cameras_json_errors(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps([{"width": 10, "height": 10, "position": [0, 0, 0]}]))
    with pytest.raises(SplatError, match=r"camera 0: missing key\(s\) rotation, fx, fy"):
        load_cameras_json(tmp_path / "c.json")
    (tmp_path / "d.json").write_text("{not json")
    with pytest.raises(SplatError, match="not a JSON file"):
        load_cameras_json(tmp_path / "d.json")
