"""`invgfx learn-physics` end to end on a tiny MPM plant (~300 particles, 16^3 grid), with a
reference video rendered at the true E (--true-E)."""

import csv
import json

import pytest

pytest.importorskip("warp")

from invgfx.cli import main  # noqa: E402

CONFIG = {
    "material": "jelly", "E": 2e5, "nu": 0.4, "density": 200, "g": [0.0, 0.0, 0.0],
    "grid_lim": 2.0, "n_grid": 16, "substep_dt": 4e-4, "frame_dt": 8e-3, "frame_num": 4,
    "opacity_threshold": 0.02, "grid_v_damping_scale": 1.0,
    "boundary_conditions": [
        {"type": "bounding_box"},
        {"type": "cuboid", "point": [1.0, 1.0, 0.55], "size": [0.5, 0.5, 0.1], "velocity": [0, 0, 0],
         "start_time": 0.0, "end_time": 1e3, "reset": 1},
        {"type": "particle_impulse", "force": [-8.0, 0, 0], "num_dt": 1, "start_time": 0.0,
         "point": [1.0, 1.0, 1.25], "size": [1.0, 1.0, 0.25]},
    ],
    "mpm_space_viewpoint_center": [1.0, 1.0, 1.0], "init_azimuthm": -90.0, "init_elevation": 10.0, "init_radius": 2.5,
}
E_TRUE = 2e5


def test_learn_physics_reference_run_and_resume(tmp_path):
    config = tmp_path / "plant.json"
    config.write_text(json.dumps(CONFIG))
    out = tmp_path / "run"
    argv = ["learn-physics", "plant", "--config", str(config), "--scene-set", "n_gaussians=150",
            "--prior", f"reference:{tmp_path / 'gt.gif'}", "--init", "E=2e4", "--groups", "2", "--frames-per-group", "2",
            "--width", "32", "--height", "32", "--true-E", str(E_TRUE), "--out", str(out)]
    assert main([*argv[:7], "text:a plant", "--model", str(tmp_path / "no-such-model"), *argv[8:], "--epochs", "1"]) == 1
    assert main([*argv, "--epochs", "2"]) == 0
    target = (tmp_path / "gt.gif").stat().st_mtime_ns  # rendered at --true-E by the first run
    assert main([*argv, "--epochs", "3", "--resume"]) == 0
    assert (tmp_path / "gt.gif").stat().st_mtime_ns == target  # a resumed run keeps its target
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2] and [int(r["group"]) for r in rows] == [0, 1, 0]
    learned = json.loads((out / "params.json").read_text())["E"]["value"]
    assert 2e4 < learned < E_TRUE  # moved from 10x too low toward the truth, 3 epochs of 10 % steps
    for name in ("plot.png", "before_after.mp4", "checkpoint.pt"):
        assert (out / name).stat().st_size > 0
