"""Choosing a camera for a capture nobody placed one for: its up axis and the bulk to frame."""

import json
import math

import pytest
import torch

from invgfx.scenes import make_scene
from invgfx.scenes.capture import surface_capture
from invgfx.splat.framing import bulk_distance, bulk_sphere, up_from_data
from invgfx.splat.geometry import axis_angle_to_rotmat


@pytest.mark.parametrize("to_world, up", [
    (torch.eye(3), (0.0, 0.0, 1.0)),  # Blender / NeRF-synthetic: z up
    (axis_angle_to_rotmat(torch.tensor([1.0, 0.0, 0.0]), math.radians(90.0)), (0.0, -1.0, 0.0)),  # COLMAP: -y up
    (axis_angle_to_rotmat(torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2), math.radians(70.0)), None),  # tilted
])
def test_up_of_a_capture_with_a_floor_comes_from_its_flat_gaussians(to_world, up):
    cloud = surface_capture((0.5, 0.2, 1.0), 1.5, 3000, rotation=to_world, floor=3000)
    found, how = up_from_data(cloud)
    expected = to_world @ torch.tensor([0.0, 0.0, 1.0])
    assert float(found @ expected) > 0.99, how
    if up is not None:
        assert torch.allclose(expected, torch.tensor(up), atol=1e-6)


def test_up_of_a_floorless_object_takes_the_nearer_convention():
    to_colmap = axis_angle_to_rotmat(torch.tensor([1.0, 0.0, 0.0]), math.radians(90.0))
    slab = surface_capture((0.0, 0.0, 0.0), 2.0, 10, rotation=to_colmap, floor=4000)  # a ground slab alone: no skew
    up, how = up_from_data(slab)
    assert float(up @ torch.tensor([0.0, -1.0, 0.0])) > 0.99 and "convention" in how
    for name in ("ball", "plant", "box"):  # procedural objects: z up, and no dominant surface, or +z nearest
        assert float(up_from_data(make_scene(name, n_gaussians=3000).cloud)[0] @ torch.tensor([0.0, 0.0, 1.0])) > 0.9, name


def test_bulk_framing_ignores_floaters():
    g = torch.Generator().manual_seed(0)
    bulk = torch.randn(5000, 3, generator=g) * 0.3 + torch.tensor([2.0, -1.0, 0.5])
    floaters = torch.randn(200, 3, generator=g) * 40.0
    center, radius = bulk_sphere(torch.cat([bulk, floaters]))
    assert torch.allclose(center, torch.tensor([2.0, -1.0, 0.5]), atol=0.05)
    assert 0.5 < radius < 1.0  # 90 % of the points: about the bulk's 2.5 sigma, not the floaters' 40 m
    assert bulk_distance(1.0, math.radians(60)) == pytest.approx(2.2)


def test_render_keeps_a_training_camera_aspect_and_refuses_a_stretch(tmp_path, capsys):
    from invgfx.cli import main
    from invgfx.splat.camera import look_at, save_cameras_json
    from invgfx.splat.io_ply import write_ply

    cloud = surface_capture((0.0, 0.0, 0.0), 1.0, 500)
    write_ply(cloud, tmp_path / "point_cloud.ply")
    save_cameras_json([look_at((3.0, 0.0, 0.5), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), math.radians(40), 320, 240)],
                      tmp_path / "cameras.json")
    import imageio.v3 as iio

    assert main(["render", str(tmp_path / "point_cloud.ply"), "--out", str(tmp_path / "a.png"), "--camera-index", "0",
                 "--width", "64"]) == 0
    assert iio.imread(tmp_path / "a.png").shape[:2] == (48, 64)
    assert main(["render", str(tmp_path / "point_cloud.ply"), "--out", str(tmp_path / "b.png"), "--camera-index", "0",
                 "--width", "64", "--height", "64"]) == 1
    assert "another aspect ratio" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "point_cloud.ply"), "--out", str(tmp_path / "c.png"), "--up", "0,0,0"]) == 1
    assert "zero vector" in capsys.readouterr().err
