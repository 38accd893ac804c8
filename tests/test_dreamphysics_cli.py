"""`invgfx learn-physics` end to end on a tiny MPM plant (~300 particles, 16^3 grid), with a
reference video rendered at the true E (--true-E)."""

import csv
import json

import pytest
import torch

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
    "mpm_space_viewpoint_center": [1.0, 1.0, 1.0], "init_azimuthm": 135.0, "init_elevation": 10.0, "init_radius": 2.5,
}
E_TRUE = 2e5


def test_learn_physics_reference_run_and_resume(tmp_path):
    config = tmp_path / "plant.json"
    config.write_text(json.dumps(CONFIG))
    out = tmp_path / "run"
    argv = ["learn-physics", "plant", "--config", str(config), "--scene-set", "n_gaussians=150",
            "--prior", f"reference:{tmp_path / 'gt.gif'}", "--init", "E=2e4", "--groups", "2", "--frames-per-group", "2",
            "--width", "32", "--height", "32", "--true-E", str(E_TRUE), "--lr-final", "0.05", "--betas", "0.5,0.5",
            "--out", str(out)]
    assert main([*argv[:7], "text:a plant", "--model", str(tmp_path / "no-such-model"), *argv[8:], "--epochs", "1"]) == 1
    assert main([*argv, "--epochs", "2"]) == 0
    target = (tmp_path / "gt.gif").stat().st_mtime_ns  # rendered at --true-E by the first run
    assert main([*argv, "--epochs", "3"]) == 0  # a run folder with a checkpoint is resumed (no --resume needed)
    assert (tmp_path / "gt.gif").stat().st_mtime_ns == target  # a resumed run keeps its target
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2] and [int(r["group"]) for r in rows] == [0, 1, 0]
    learned = json.loads((out / "params.json").read_text())["E"]["value"]
    assert 2e4 < learned < E_TRUE  # moved from 10x too low toward the truth, 3 epochs of 5-10 % steps
    assert main([*argv, "--epochs", "3", "--resume", "--betas", "0.9,0.99"]) == 1  # other betas: refused
    assert main([*argv, "--epochs", "3", "--resume", "--jitter", "0.5"]) == 1  # other jitter: refused
    assert main([*argv, "--epochs", "3", "--betas", "0.5"]) == 1  # not two numbers
    for name in ("plot.png", "before_after.mp4", "checkpoint.pt"):
        assert (out / name).stat().st_size > 0
    assert main([*argv, "--epochs", "1", "--restart", "--betas", "0.9,0.99"]) == 0  # started over: other betas are fine
    assert [int(r["epoch"]) for r in csv.DictReader(open(out / "log.csv"))] == [0]


def test_learn_specs_give_global_particle_and_region_parameters():
    from types import SimpleNamespace

    from invgfx.dreamphysics.cli import parse_learn
    from invgfx.dreamphysics.errors import DreamPhysicsError

    cfg = SimpleNamespace(E=2e5, nu=0.4, density=200.0)
    E, nu = parse_learn(["E:1e3:1e8:particles", "nu:0.1:0.45"], ["nu=0.3"], cfg, n_particles=7)
    assert E.layout == "particles" and E.value.tolist() == [2e5] * 7 and (E.lo, E.hi) == (1e3, 1e8)
    assert nu.layout == "global" and nu.value.tolist() == pytest.approx([0.3])
    assert nu.interval == (0.0, 0.5) and E.interval is None and E.lr is None  # nu through a logit, E through log
    E, rho = parse_learn(["E:1e3:1e8:lr=0.5", "density:10:1e3:particles:lr=0.05"], [], cfg, n_particles=7)
    assert (E.layout, E.lr, rho.layout, rho.lr) == ("global", 0.5, "particles", 0.05)
    (R,) = parse_learn(["E:1e3:1e8:box=0.8,0.8,1.0,1.2,1.2,1.5/box=0,0,0,2,2,0.7"], [], cfg, n_particles=7)
    assert R.layout == "regions" and R.value.tolist() == [2e5] * 3
    assert torch.allclose(R.boxes, torch.tensor([[[0.8, 0.8, 1.0], [1.2, 1.2, 1.5]], [[0, 0, 0], [2, 2, 0.7]]]))
    for bad, match in [("E:1e3", "expected NAME:LO:HI"), ("mu:1:2", "not one of"),
                       ("E:1e3:1e8:box=1,1,1,0,2,2", "X0 < X1"), ("E:1e3:1e8:grid", "is not particles or box"),
                       ("E:1e3:1e8:lr=fast", "lr= takes a number"), ("E:1e3:1e8:particles:grid:lr=1", "expected NAME:LO:HI"),
                       ("nu:0:0.5", r"strictly inside \(0, 0.5\)"), ("E:1e3:1e8:lr=-2", "learning rate")]:
        with pytest.raises(DreamPhysicsError, match=match):
            parse_learn([bad], [], cfg, n_particles=7)


def test_learn_physics_learns_a_region_field(tmp_path):
    """The crown box of the plant gets its own E, which moves; the value outside stays put when
    nothing outside the box moves differently (the pot is held)."""
    config = tmp_path / "plant.json"
    config.write_text(json.dumps(CONFIG))
    out = tmp_path / "run"
    assert main(["learn-physics", "plant", "--config", str(config), "--scene-set", "n_gaussians=150",
                 "--prior", f"reference:{tmp_path / 'gt.gif'}", "--true-E", str(E_TRUE), "--init", "E=2e4",
                 "--learn", "E:1e3:1e8:box=0,0,1.0,2,2,2", "--groups", "2", "--frames-per-group", "2",
                 "--width", "32", "--height", "32", "--epochs", "2", "--out", str(out)]) == 0
    saved = json.loads((out / "params.json").read_text())["E"]
    assert saved["layout"] == "regions" and saved["boxes"] == [[[0, 0, 1.0], [2, 2, 2]]]
    assert saved["value"][1] > 2e4  # the crown stiffened toward the truth
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert {"E_gmean", "E_min", "E_max"} <= set(rows[0])


def test_the_documented_gpu_commands_parse():
    """docs/dreamphysics.md's commands for the paper's setting parse as written (the global
    options after the subcommand included)."""
    import shlex
    from pathlib import Path

    from invgfx.cli import build_parser

    text = Path(__file__).resolve().parents[1].joinpath("docs/dreamphysics.md").read_text()
    block = text.split("## On a GPU with the real weights")[1].split("```")[1]
    commands = [c for c in block.replace("\\\n", " ").splitlines() if c.startswith("invgfx ")]
    assert len(commands) == 2
    for command in commands:
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert args.device == "cuda" and args.learn == ["E:1e4:4e6:particles"] and args.update == "reference"
        assert args.lr == 1 and args.grad_substeps == 1 and args.e_unit == "1e7Pa" and args.width == 256
    assert (args.model_variant, args.vae_chunk) == ("fp16", 5)  # the SVD command, last


def test_text_prompt_gets_the_view_suffix_of_the_configs_camera():
    """DreamPhysics hands its guidance the config's init_azimuthm / init_elevation (degrees): its
    ficus (-36.7 deg) is seen from the front, its ball (-120 deg) from the side."""
    from pathlib import Path

    from invgfx.dreamphysics.cli import camera_view
    from invgfx.dreamphysics.prior import Condition, prompt_for
    from invgfx.mpm import load_config

    data = Path(__file__).parent / "data" / "dreamphysics"
    views = {}
    for name in ("ficus", "ball"):
        azimuth, elevation = camera_view(load_config(data / f"{name}.json").camera)
        views[name] = prompt_for(Condition(text="a ficus swaying in the wind", azimuth=azimuth, elevation=elevation), "t", True)
    assert views == {"ficus": "a ficus swaying in the wind, front view", "ball": "a ficus swaying in the wind, side view"}
    assert camera_view({}) == (None, None)
