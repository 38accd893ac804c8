"""PhysGaussian / DreamPhysics scene configs read as their code reads them, on real-layout captures.

tests/data/physgaussian/*.json and tests/data/dreamphysics/*.json carry the values of their
public configs. The captures are closed surfaces of flat Gaussians (conftest.surface_capture)
placed where each config expects its object: inside `sim_area` after the config's rotations,
with a floor outside it, or off-centre at another scale.
"""

import json
import math
import warnings
from pathlib import Path

import pytest
import torch

from invgfx.mpm import MPMError, Simulator, from_physgaussian, load_config
from invgfx.mpm.gaussians import prepare_particles, render_state, scene_camera, scene_rotation
from invgfx.scenes.capture import capture_in_area, surface_capture

DATA = Path(__file__).resolve().parent / "data"
PUBLIC = sorted((DATA / "physgaussian").glob("*.json")) + sorted((DATA / "dreamphysics").glob("*.json"))
# What a warning may say about a public config: the defaults it leaves out and a missing bounding box.
ALLOWED = ("PhysGaussian's defaults are used", "has no bounding_box")


def capture_for(cfg, n=15000):
    """(capture laid out where `cfg` wants its object, the config's rotation)."""
    R = scene_rotation(cfg.rotations)
    return capture_in_area(R, cfg.sim_area, n), R


def load_public(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = load_config(path, e_unit="1e7Pa" if path.parent.name == "dreamphysics" else None)
    unexpected = [str(w.message) for w in caught if not any(a in str(w.message) for a in ALLOWED)]
    assert not unexpected, unexpected
    return cfg


@pytest.mark.parametrize("path", PUBLIC, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_public_config_loads_selects_fills_and_simulates(path):
    cfg = load_public(path)
    cloud, R = capture_for(cfg)
    p = prepare_particles(cloud.means, cloud.covariances(), cloud.opacities, cfg, generator=torch.Generator().manual_seed(0))
    # the selection PhysGaussian makes: opacity above the threshold, inside sim_area after the rotations
    expected = cloud.opacities > cfg.opacity_threshold
    if cfg.sim_area is not None:
        box = torch.tensor(cfg.sim_area).reshape(3, 2)
        rotated = cloud.means @ R.T
        expected &= ((rotated > box[:, 0]) & (rotated < box[:, 1])).all(1)
        assert 0 < expected.sum() < len(cloud.means)  # the floor lies outside
    captured = (p.gaussian_index >= 0) & (p.gaussian_index < len(cloud.means))
    assert torch.equal(p.gaussian_index[captured], torch.nonzero(expected).squeeze(1))
    if cfg.particle_filling is not None:
        assert (~captured).sum() > 0  # the closed capture is filled (hidden or, with `visualize`, shown)
        assert (p.shown_fill is not None) == cfg.particle_filling.visualize
    lo, hi = p.positions[captured].amin(0), p.positions[captured].amax(0)
    assert float((hi - lo).max()) == pytest.approx(cfg.object_size, rel=1e-4)  # PhysGaussian's `scale`
    assert torch.allclose((hi + lo) / 2, torch.ones(3), atol=1e-4)  # centred at (1, 1, 1)
    sim = Simulator(cfg, p.positions, p.volumes)
    state = sim.run(sim.initial_state(), None, 2)
    assert torch.isfinite(state.x).all() and torch.isfinite(state.F).all()
    image = render_state(cloud, p, state.x, state.F, scene_camera(cfg, 0, 24, 24))
    assert torch.isfinite(image).all()


def test_scale_key_sets_the_longest_side_and_default_is_one_metre():
    data = json.loads((DATA / "physgaussian" / "tear_bread.json").read_text())
    assert load_public(DATA / "physgaussian" / "tear_bread.json").object_size == 0.6
    data.pop("scale")
    assert from_physgaussian(data).object_size == 1.0


def block(lo, hi, spacing):
    """(K, 3) particles on a lattice filling the box [lo, hi], one per spacing^3, and that volume."""
    axes = [torch.arange(a + spacing / 2, b, spacing) for a, b in zip(lo, hi)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3), spacing**3


def quiet(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return from_physgaussian({"E": 1e4, "material": "jelly", "nu": 0.3, "density": 100, "n_grid": 32,
                                  "g": [0, 0, 0], **data})


def forced_velocity(cfg, x, v, t):
    """The particle velocities after the config's particle conditions at time t (one kernel launch)."""
    import warp as wp

    from invgfx.mpm import kernels as K

    sim = Simulator(cfg, x, 1e-6)
    out = wp.zeros(len(x), dtype=wp.vec3)
    rho = wp.from_torch(torch.full((len(x),), cfg.density))
    wp.launch(K.particle_forcing, len(x), inputs=[wp.from_torch(x.contiguous(), dtype=wp.vec3),
                                                  wp.from_torch(v.contiguous(), dtype=wp.vec3), sim.wp_x0, sim.wp_vol,
                                                  rho, sim.forcings, t, cfg.substep_dt], outputs=[out])
    return wp.to_torch(out)


def test_particle_impulse_without_point_and_size_pushes_the_whole_centred_cube():
    cfg = quiet({"boundary_conditions": [{"type": "particle_impulse", "force": [-0.18, 0.0, 0.0]}]})
    (impulse,) = cfg.forcings
    assert (impulse.point, impulse.size) == ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0))  # PhysGaussian's defaults
    x, vol = block((0.5, 0.6, 0.7), (1.5, 1.4, 1.3), 0.0625)  # one particle per cell: equal masses
    sim = Simulator(cfg, x, vol)
    state = sim.run(sim.initial_state(), None, 1)
    expected = -0.18 * cfg.substep_dt / (cfg.density * vol)  # dv = F dt / m on every particle, num_dt = 1
    assert torch.allclose(state.v[:, 0], torch.full((sim.n,), expected), rtol=1e-4)
    assert sim.run(state, None, 3).v[:, 0].sub(expected).abs().max() < 1e-3 * abs(expected)  # one substep only


def test_damping_scale_above_one_means_none_and_below_one_damps_every_substep():
    x, vol = block((0.8, 0.8, 0.8), (1.2, 1.2, 1.2), 0.0625)
    speeds = {}
    for scale in (1.1, 0.99):
        sim = Simulator(quiet({"grid_v_damping_scale": scale, "substep_dt": 1e-3}), x, vol)
        speeds[scale] = sim.run(sim.initial_state(velocity=(0.5, 0.0, 0.0)), None, 10).v[:, 0].mean().item()
    assert speeds[1.1] == pytest.approx(0.5, rel=1e-5)
    assert speeds[0.99] == pytest.approx(0.5 * 0.99**10, rel=1e-4)


def test_velocity_rotation_selects_the_cylinder_and_turns_as_physgaussian():
    bc = {"type": "enforce_particle_velocity_rotation", "point": [1.0, 1.0, 1.0], "normal": [0, 0, 2],
          "half_height_and_radius": [0.2, 0.3], "rotation_scale": 2.0, "translation_scale": 0.5,
          "start_time": 0.0, "end_time": 1.0}
    cfg = quiet({"boundary_conditions": [bc]})
    x = torch.tensor([[1.2, 1.0, 1.0], [1.0, 1.25, 1.1], [1.0, 1.0, 1.25], [1.35, 1.0, 1.0], [1.2, 1.0, 1.0]])
    v0 = torch.full((5, 3), 9.0)
    v = forced_velocity(cfg, x, v0, 0.1)
    n = torch.tensor([0.0, 0.0, 1.0])
    inside = torch.tensor([True, True, False, False, True])  # |axial| < 0.2 and radial < 0.3
    expected = 2.0 * torch.linalg.cross(x - 1.0, n.expand(5, 3)) + 0.5 * n  # omega (x - p) x n + v_n n
    assert torch.allclose(v[inside], expected[inside], atol=1e-6)
    assert torch.equal(v[~inside], v0[~inside])
    assert v[0, 1] < 0  # PhysGaussian's sense: at +x of the axis the particle moves towards -y for n = +z
    assert torch.equal(forced_velocity(cfg, x, v0, 1.0), v0)  # the window [start_time, end_time) is over


def test_release_particles_sequentially_frees_layers_from_the_start_position():
    bc = {"type": "release_particles_sequentially", "normal": [1, 0, 0], "start_position": 1.5, "end_position": 0.5,
          "num_layers": 50, "start_time": 0.0, "end_time": 1.5}
    cfg = quiet({"boundary_conditions": [bc]})
    x = torch.tensor([[0.51, 1.0, 1.0], [1.0, 1.0, 1.0], [1.49, 1.0, 1.0], [1.6, 1.0, 1.0], [0.4, 1.0, 1.0]])
    # a particle d from end_position is held until end_time * ceil(50 (1 - d / 1)) / 50
    release = torch.tensor([1.5 * math.ceil(50 * (1 - d)) / 50 for d in (0.01, 0.5, 0.99, 2.0, 0.1)])
    release[3] = 0.0  # beyond start_position: never held
    v0 = torch.ones(5, 3)
    for t in (0.0, 0.02, 0.05, 0.7, 0.76, 1.3, 1.49, 1.5):
        held = (forced_velocity(cfg, x, v0, t) == 0).all(1)
        assert torch.equal(held, t < release), t


def test_cuboid_reset_stops_the_whole_grid_for_15_substeps_after_its_end():
    x, vol = block((0.8, 0.8, 0.8), (1.0, 1.0, 1.0), 0.0625)
    moved = {}
    for reset in (0, 1):
        cuboid = {"type": "cuboid", "point": [0.3, 0.3, 0.3], "size": [0.1] * 3, "velocity": [0, 0, 0],
                  "start_time": 0.0, "end_time": 0.0, "reset": reset}
        sim = Simulator(quiet({"substep_dt": 1e-3, "boundary_conditions": [cuboid]}), x, vol)
        s0 = sim.initial_state(velocity=(0.5, 0.0, 0.0))
        moved[reset] = (sim.run(s0, None, 20).x - s0.x)[:, 0].mean().item()
    assert moved[0] == pytest.approx(0.5 * 20e-3, rel=1e-4)  # a cuboid never active does nothing
    assert moved[1] == pytest.approx(0.0, abs=1e-7)  # reset: the grid is stopped, so the body stops


def test_no_bounding_box_means_none_with_one_warning_and_one_escape_report():
    with pytest.warns(UserWarning, match="has no bounding_box"):
        cfg = from_physgaussian({"boundary_conditions": [], "E": 1e4, "material": "jelly", "nu": 0.3,
                                 "density": 100, "n_grid": 16, "g": [0, 0, 0], "substep_dt": 1e-3})
    assert cfg.bounding_box_padding is None
    x, vol = block((1.6, 0.9, 0.9), (1.7, 1.1, 1.1), 0.0625)
    sim = Simulator(cfg, x, vol)
    with pytest.warns(RuntimeWarning, match="reached the edge") as record:
        s = sim.run(sim.initial_state(velocity=(4.0, 0.0, 0.0)), None, 200)  # 20 checks
    assert len([w for w in record if "reached the edge" in str(w.message)]) == 1
    assert sim.n_escaped > 0 and s.x[:, 0].max() <= sim.grid.hi + 1e-6  # held at the edge, counted


@pytest.mark.parametrize("data, key, valid", [
    ({"n_grid": 32.7}, "`n_grid`", "whole number"),
    ({"boundary_conditions": {"type": "bounding_box"}}, "`boundary_conditions`", "list of objects"),
    ({"rotation_degree": 45, "rotation_axis": 1}, "`rotation_degree`", "list"),
    ({"particle_filling": 3}, "`particle_filling`", "object of filling keys"),
    ({"particle_filling": {"n_grid": 0}}, "`particle_filling.n_grid`", "at least 1"),
    ({"boundary_conditions": [{"type": "surface_collider", "point": [1, 1, 0.5], "normal": [0, 0, 1],
                               "surface": "sticky", "friction": 0.3}]}, r"`boundary_conditions\[0\].friction`", "sticky"),
    ({"boundary_conditions": [{"type": "release_particles_sequentially", "normal": [1, 1, 0], "start_position": 1.5,
                               "end_position": 0.5, "end_time": 1.0}]}, r"`boundary_conditions\[0\].normal`", "one axis"),
    ({"boundary_conditions": [{"type": "enforce_particle_translation", "point": [1, 1, 1], "size": [1, 1, 1]}]},
     r"`boundary_conditions\[0\].velocity`", "is missing"),
])
def test_bad_values_name_the_key(data, key, valid):
    with pytest.raises(MPMError, match=rf"scene.json: {key}.*{valid}"):
        from_physgaussian({"E": 1e4, "material": "jelly", "nu": 0.3, "density": 100, "n_grid": 32, "g": [0, 0, 0], **data},
                          source="scene.json")


def test_missing_material_and_E_say_which_defaults_are_used():
    with pytest.warns(UserWarning, match=r"defaults are used: material = jelly, E = 1e5 Pa") as record:
        cfg = from_physgaussian({"nu": 0.3, "density": 100, "n_grid": 32, "g": [0, 0, 0],
                                 "boundary_conditions": [{"type": "bounding_box"}]})
    assert (cfg.material, cfg.E) == ("jelly", 1e5) and len(record) == 1


def test_unknown_keys_are_warned_about_once_each_by_name():
    with pytest.warns(UserWarning) as record:
        quiet_data = {"E": 1e4, "material": "jelly", "nu": 0.3, "density": 100, "n_grid": 32, "g": [0, 0, 0],
                      "boundary_conditions": [{"type": "bounding_box"}], "my_render_option": 1, "pic_damping": 0.1}
        from_physgaussian(quiet_data)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1 and "`my_render_option` is ignored" in messages[0]  # pic_damping: no effect there either


def test_cfl_advice_gives_a_substep_that_the_fastest_particle_needs():
    cfg = quiet({"substep_dt": 1e-3, "boundary_conditions": [
        {"type": "enforce_particle_translation", "point": [1, 1, 1], "size": [0.05] * 3, "velocity": [3000.0, 0, 0]}]})
    x, vol = block((0.9, 0.9, 0.9), (1.1, 1.1, 1.1), 0.0625)
    sim = Simulator(cfg, x, vol)
    with pytest.raises(MPMError, match="fastest particle moves at") as err:
        sim.run(sim.initial_state(), None, 10)
    dt = float(str(err.value).split("Use substep_dt = ")[1].split(" s")[0])
    assert dt * 3000.0 < cfg.dx / 2  # the advised substep moves it less than half a cell


def colmap_capture(tmp_path, n=4000):
    """A capture in the COLMAP layout (world up = -y) written as a 3DGS model folder: the PLY and,
    beside it, a cameras.json of 80 x 60 cameras around the object. Its upright frame comes back
    with rotation_degree [-90] about x."""
    from invgfx.splat.camera import look_at, save_cameras_json
    from invgfx.splat.geometry import axis_angle_to_rotmat
    from invgfx.splat.io_ply import write_ply

    to_world = axis_angle_to_rotmat(torch.tensor([1.0, 0.0, 0.0]), math.radians(90.0))  # z up -> -y up
    cloud = surface_capture((0.3, -0.2, 1.5), 1.8, n, rotation=to_world, seed=3)
    center = cloud.means.mean(0)
    cameras = [look_at(center + torch.tensor([4.0 * math.cos(a), -1.0, 4.0 * math.sin(a)]), center, (0.0, -1.0, 0.0),
                       math.radians(50), 80, 60) for a in (0.3, 1.9, 3.5)]
    folder = tmp_path / "model"
    (folder / "point_cloud" / "iteration_30000").mkdir(parents=True)
    write_ply(cloud, folder / "point_cloud" / "iteration_30000" / "point_cloud.ply")
    save_cameras_json(cameras, folder / "cameras.json")
    return cloud, cameras, folder / "point_cloud" / "iteration_30000" / "point_cloud.ply"


COLMAP_SCENE = {"material": "jelly", "E": 2e4, "nu": 0.3, "density": 200, "n_grid": 24, "g": [0.0, 0.0, -9.8],
                "substep_dt": 1e-3, "frame_dt": 4e-3, "frame_num": 3, "rotation_degree": [-90.0], "rotation_axis": [0],
                "boundary_conditions": [{"type": "bounding_box"}], "mpm_space_viewpoint_center": [1, 1, 1],
                "mpm_space_vertical_upward_axis": [0, 0, 1], "default_camera_index": 1, "init_azimuthm": 30.0,
                "init_elevation": 20.0, "init_radius": 6.0}


def test_a_colmap_layout_capture_renders_from_its_own_camera_exactly(tmp_path):
    from invgfx.splat.render import render_cloud

    cloud, cameras, _ = colmap_capture(tmp_path)
    cfg = from_physgaussian(COLMAP_SCENE)
    p = prepare_particles(cloud.means, cloud.covariances(), cloud.opacities, cfg)
    assert p.positions[:, 2].amax() - p.positions[:, 2].amin() == pytest.approx(0.6, rel=0.02)  # upright: 0.3 size tall
    rest = torch.eye(3).expand(len(p.positions), 3, 3)
    for index in (0, 1, 2):
        cfg.camera["default_camera_index"] = index
        sim_view = render_state(cloud, p, p.positions, rest, scene_camera(cfg, 0, 80, 60, p.space, cameras), torch.ones(3))
        world_view = render_cloud(cloud, cameras[index], background=torch.ones(3)).rgb.clamp(0, 1)
        assert (sim_view - world_view).abs().max() < 1e-3  # the exact inverse of the normalisation, and the same camera
    # the orbit keys circle the object in world space: the same image however the capture is scaled
    cfg.camera["default_camera_index"] = -1
    big = cloud.transformed(scale=3.0)
    p_big = prepare_particles(big.means, big.covariances(), big.opacities, cfg)
    small_view = render_state(cloud, p, p.positions, rest, scene_camera(cfg, 0, 40, 30, p.space, cameras))
    cfg.camera["init_radius"] = 18.0
    big_view = render_state(big, p_big, p_big.positions, rest, scene_camera(cfg, 0, 40, 30, p_big.space, cameras))
    assert (small_view - big_view).abs().max() < 1e-3 and small_view.std() > 0.05


def test_simulate_a_colmap_capture_with_its_cameras(tmp_path, capsys):
    from invgfx.cli import main

    _, _, ply = colmap_capture(tmp_path, n=1500)
    config = tmp_path / "scene.json"
    config.write_text(json.dumps(COLMAP_SCENE))
    out = tmp_path / "sim.mp4"
    assert main(["simulate", str(config), "--ply", str(ply), "--out", str(out), "--frames", "2", "--width", "32"]) == 0
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["camera"] == "cameras.json" and summary["frames"] == 2 and summary["particles"] > 1000
    import imageio.v3 as iio

    assert iio.imread(out, index=0).shape[:2] == (24, 32)  # the capture camera's 4:3, not stretched
    assert main(["simulate", str(config), "--ply", str(ply), "--out", str(tmp_path / "sim.png")]) == 1
    assert "unknown video suffix" in capsys.readouterr().err
    frames = tmp_path / "frames"  # lossless: the same frames as PNG files
    assert main(["simulate", str(config), "--ply", str(ply), "--out", str(frames), "--frames", "2", "--width", "32"]) == 0
    assert sorted(p.name for p in frames.glob("*.png")) == ["frame_00000.png", "frame_00001.png"]
    assert iio.imread(frames / "frame_00000.png").shape[:2] == (24, 32)
