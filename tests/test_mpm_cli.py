"""`invgfx simulate` end to end on a tiny run, and its error path."""

import json

from invgfx.cli import main


def test_simulate_writes_video_summary_and_plys(tmp_path, capsys):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"material": "jelly", "E": 2e4, "n_grid": 16, "substep_dt": 1e-3, "frame_dt": 2e-3,
                               "frame_num": 2, "boundary_conditions": [{"type": "bounding_box"}]}))
    out = tmp_path / "ball.mp4"
    rc = main(["simulate", str(cfg), "--scene", "ball", "--out", str(out), "--width", "32", "--height", "32",
               "--ply-frames", str(tmp_path / "plys")])
    assert rc == 0
    summary = json.loads(out.with_suffix(".json").read_text())
    assert out.stat().st_size > 0 and summary["frames"] == 2 and summary["particles"] > 1000
    assert summary["simulated_seconds"] == 2e-3 and summary["escaped_particles"] == 0
    assert len(list((tmp_path / "plys").glob("frame_*.ply"))) == 2


def test_simulate_reports_config_errors_without_traceback(tmp_path, capsys):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"material": "rubber"}))
    assert main(["simulate", str(cfg), "--scene", "ball", "--out", str(tmp_path / "x.mp4")]) == 1
    err = capsys.readouterr().err
    assert "bad.json: `material` is 'rubber'; valid materials" in err and "Traceback" not in err


def test_scene_settings_and_max_particles_shrink_the_simulation(tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"material": "jelly", "E": 2e4, "n_grid": 16, "substep_dt": 1e-3, "frame_dt": 2e-3,
                               "frame_num": 1, "boundary_conditions": [{"type": "bounding_box"}]}))
    out = tmp_path / "ball.mp4"
    args = ["simulate", str(cfg), "--scene", "ball", "--out", str(out), "--width", "16", "--height", "16"]
    assert main(args + ["--scene-set", "n_gaussians=800", "--max-particles", "300"]) == 0
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["particles"] == 300 and 300 + summary["carried_gaussians"] > 700
    assert summary["scene_settings"] == {"n_gaussians": 800}


def test_scene_settings_errors_name_the_parameter(tmp_path, capsys):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"material": "jelly"}))
    assert main(["simulate", str(cfg), "--scene", "ball", "--scene-set", "legs=4", "--out", str(tmp_path / "x.mp4")]) == 1
    assert "scene 'ball' has no parameter legs" in capsys.readouterr().err
