"""Scene configs: PhysGaussian JSON as is, the native YAML, unit conversion and error messages."""

import json
from pathlib import Path

import pytest
import torch

from invgfx.mpm import MPMError, load_config
from invgfx.mpm.config import estimate_memory, from_physgaussian
from invgfx.mpm.gaussians import normalisation

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "mpm"


def test_physgaussian_json_and_native_yaml_agree():
    pg, native = load_config(CONFIGS / "ball_jelly.json"), load_config(CONFIGS / "ball_jelly.yaml")
    for cfg in (pg, native):
        assert (cfg.material, cfg.E, cfg.nu, cfg.density, cfg.n_grid) == ("jelly", 2e4, 0.4, 100.0, 32)
        assert cfg.substeps_per_frame == 100 and cfg.bounding_box_padding == 3
    layout = ("source", "object_size", "object_center", "camera_space")  # PhysGaussian layout vs the native one
    assert {k: v for k, v in vars(pg).items() if k not in layout} == {k: v for k, v in vars(native).items() if k not in layout}
    means = torch.rand(50, 3) * torch.tensor([3.0, 1.0, 2.0])
    a, b = normalisation(means, torch.eye(3), pg), normalisation(means, torch.eye(3), native)
    assert a.scale == pytest.approx(b.scale) and torch.allclose(a.shift, b.shift)


def test_every_physgaussian_boundary_type_loads():
    cfg = load_config(CONFIGS / "plant_jelly.json")
    assert len(cfg.cuboids) == 1 and cfg.cuboids[0].reset
    (impulse,) = cfg.forcings
    assert impulse.kind == "impulse" and impulse.end_time - impulse.start_time == pytest.approx(0.5 * cfg.substep_dt)
    assert cfg.material_regions[0].E == 2e6 and cfg.material_regions[0].density == 70
    bcs = [
        {"type": "surface_collider", "point": [1, 1, 0.2], "normal": [0, 0, 1], "surface": "friction", "friction": 0.3},
        {"type": "enforce_particle_translation", "point": [1, 1, 1], "size": [0.1] * 3, "velocity": [1, 0, 0],
         "start_time": 0, "end_time": 0.1},
        {"type": "enforce_particle_velocity_rotation", "point": [1, 1, 1], "normal": [0, 0, 2],
         "half_height_and_radius": [0.2, 0.3], "rotation_scale": 3.0, "translation_scale": 0.5},
        {"type": "release_particles_sequentially", "normal": [1, 0, 0], "start_position": 1.5, "end_position": 0.5,
         "num_layers": 50, "start_time": 0.0, "end_time": 1.5},
    ]
    cfg = from_physgaussian({"boundary_conditions": bcs, "material": "sand", "friction_angle": 30})
    assert cfg.surface_colliders[0].surface == "friction"
    assert [f.kind for f in cfg.forcings] == ["translation", "rotation", "sequential_release"]
    assert cfg.forcings[1].axis == (0.0, 0.0, 1.0) and (cfg.forcings[1].half_height, cfg.forcings[1].radius) == (0.2, 0.3)
    release = cfg.forcings[2]
    assert (release.point, release.size, release.axis, release.layers) == ((0.5, 1, 1), (1.0, 1, 1), (1, 0, 0), 50)


def test_dreamphysics_youngs_modulus_units():
    data = {"E": 0.005, "additional_material_params": [{"point": [1, 1, 1], "size": [1, 1, 1], "E": 0.01}]}
    cfg = from_physgaussian(data, e_unit="1e7Pa")
    assert cfg.E == pytest.approx(5e4) and cfg.material_regions[0].E == pytest.approx(1e5)
    with pytest.warns(UserWarning, match="1e7 Pa"):
        assert from_physgaussian(data).E == 0.005


@pytest.mark.parametrize("data, key, valid", [
    ({"material": "rubber"}, "`material`", "valid materials: jelly"),
    ({"E": -1.0}, "`E`", "positive"),
    ({"nu": 0.5}, "`nu`", r"\(-1, 0.5\)"),
    ({"boundary_conditions": [{"type": "cuboid", "size": [1, 1, 1]}]}, r"`boundary_conditions\[0\].point`", "missing"),
    ({"boundary_conditions": [{"type": "wall"}]}, r"`boundary_conditions\[0\].type`", "valid: bounding_box"),
    ({"boundary_conditions": [{"type": "surface_collider", "point": [0, 0, 0], "normal": [0, 0, 1],
                               "surface": "glue"}]}, r"`boundary_conditions\[0\].surface`", "sticky, slip, friction"),
    ({"boundary_conditions": [{"type": "cuboid", "point": [1, 1], "size": [1, 1, 1]}]}, r"`boundary_conditions\[0\].point`", "3 numbers"),
    ({"additional_material_params": [{"point": [1, 1, 1], "size": [1, 1, 1], "nu": 0.7}]},
     r"`additional_material_params\[0\].nu`", r"\(-1, 0.5\)"),
    ({"E_unit": "GPa"}, "`E_unit`", "Pa, 1e7Pa"),
])
def test_errors_name_the_key_and_what_is_valid(data, key, valid):
    with pytest.raises(MPMError, match=rf"scene.json: {key}.*{valid}"):
        from_physgaussian(data, source="scene.json")


def test_native_schema_is_strict_and_files_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {size: 2.0, resolutoin: 50}\n")
    with pytest.raises(MPMError, match=r"bad.yaml: `grid.resolutoin`.*did you mean `resolution`"):
        load_config(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{\"E\": ")
    with pytest.raises(MPMError, match="broken.json: not valid JSON"):
        load_config(broken)
    with pytest.raises(MPMError, match="cannot read scene config"):
        load_config(tmp_path / "missing.json")
    pg = tmp_path / "pg.json"
    pg.write_text(json.dumps({"E": 1e5, "some_script_option": 1}))
    with pytest.warns(UserWarning, match="some_script_option"):
        load_config(pg)


def test_memory_estimate_scales_with_particles_and_grid():
    assert estimate_memory(2 * 10**5, 64) - estimate_memory(10**5, 64) == estimate_memory(10**5, 0)
    assert estimate_memory(0, 128) == 8 * estimate_memory(0, 64)
    assert estimate_memory(1000, 32, requires_grad=True) == 2 * estimate_memory(1000, 32)
