"""The `invgfx` command: help, render, scenes, errors without tracebacks."""


import pytest
import torch

from invgfx.cli import main
from invgfx.splat.io_image import read_image, read_video
from invgfx.splat.io_ply import read_ply


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("render", "scenes"):
        assert command in out


def test_scene_to_ply_to_png_and_mp4(tmp_path, capsys):
    ply = tmp_path / "ball.ply"
    assert main(["--seed", "2", "scenes", "make", "ball", "--set", "radius=0.4", "--set", "n_gaussians=3000", "--out", str(ply)]) == 0
    cloud = read_ply(ply)
    assert 2000 < len(cloud) < 4000 and float(cloud.means.norm(dim=1).max()) <= 0.4
    png = tmp_path / "ball.png"
    assert main(["render", str(ply), "--out", str(png), "--width", "64", "--height", "48", "--background", "1,1,1"]) == 0
    img = read_image(png)
    assert img.shape == (3, 48, 64)
    assert float(img[:, 0, 0].min()) > 0.98  # white background in the corner
    assert float((img.sum(0) < 2.5).float().mean()) > 0.05  # the ball covers part of the frame
    mp4 = tmp_path / "orbit.mp4"
    assert main(["render", str(ply), "--out", str(mp4), "--orbit", "--frames", "6", "--width", "48", "--height", "48"]) == 0
    assert read_video(mp4).shape == (6, 3, 48, 48)


def test_real_layout_with_cameras_json(tmp_path):
    """A 3DGS output folder: model/cameras.json beside model/point_cloud/iteration_7000/point_cloud.ply."""
    from invgfx.scenes import make_scene
    from invgfx.splat.camera import look_at, save_cameras_json
    from invgfx.splat.io_ply import write_ply

    ply = tmp_path / "model" / "point_cloud" / "iteration_7000" / "point_cloud.ply"
    ply.parent.mkdir(parents=True)
    write_ply(make_scene("box", n_gaussians=2000).cloud, ply)
    save_cameras_json([look_at([0, -2.0, 0.3], [0, 0, 0.3], width=40, height=30)], tmp_path / "model" / "cameras.json")
    out = tmp_path / "cam0.png"
    assert main(["render", str(ply), "--out", str(out), "--camera-index", "0", "--width", "40", "--height", "30"]) == 0
    img = read_image(out)
    assert float(img[:, 15, 20].sum()) > 0.3  # the box is in the middle of the training view


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["render", str(tmp_path / "missing.ply"), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "missing.ply: no such file" in err and "Traceback" not in err
    assert main(["render", "ball", "--out", str(tmp_path / "x.jpg")]) == 1
    assert "use a .png, .mp4 or .gif" in capsys.readouterr().err
    assert main(["--device", "cuda:7", "render", "ball", "--out", str(tmp_path / "x.png")]) == 1
    assert "--device" in capsys.readouterr().err
    assert main(["scenes", "make", "ball", "--set", "radius", "--out", str(tmp_path / "b.ply")]) == 1
    assert "expected KEY=VALUE" in capsys.readouterr().err



def test_open_log_keeps_each_step_once_across_a_resume(tmp_path):
    """A run that wrote steps 1-5, checkpointed at 3 and was killed resumes its log after step 3."""
    import csv

    from invgfx.runlog import open_log

    path = tmp_path / "log.csv"
    with open_log(path, ["step", "loss"], 0) as fh:
        csv.writer(fh).writerows([[k, 1.0 / k] for k in range(1, 6)])
    with open_log(path, ["step", "loss"], 3) as fh:
        csv.writer(fh).writerows([[k, 2.0] for k in range(4, 7)])
    rows = list(csv.DictReader(open(path)))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [float(r["loss"]) for r in rows] == [1.0, 0.5, 1 / 3, 2.0, 2.0, 2.0]
    with open_log(path, ["step", "loss"], 0) as fh:  # a fresh run starts over
        pass
    assert path.read_text().splitlines() == ["step,loss"]


def test_cli_starts_without_torch_and_refuses_unwritable_outputs_before_solving(tmp_path):
    """`invgfx --help` and the rules commands import neither torch nor Warp; an output that cannot
    hold the grid is refused before the solve."""
    import subprocess
    import sys

    code = ("import sys; from invgfx.cli import main; rc = main(sys.argv[1:]);"
            "heavy = [m for m in ('torch', 'warp') if m in sys.modules]; print('HEAVY', heavy); sys.exit(rc)")
    house, rules = tmp_path / "house.txt", tmp_path / "rules.json"
    for argv in (["buildings", "generate", "--out", str(house)], ["rules", "learn", str(house), "--out", str(rules)],
                 ["rules", "generate", str(rules), "--size", "12", "12", "6", "--out", str(tmp_path / "o.vox")]):
        out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "HEAVY []" in out.stdout, (argv, out.stdout, out.stderr)
    help_out = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=60)
    assert "HEAVY" not in help_out.stdout or "HEAVY []" in help_out.stdout
    big = subprocess.run([sys.executable, "-m", "invgfx.cli", "rules", "generate", str(rules), "--size", "300", "40", "10",
                          "--out", str(tmp_path / "big.vox")], capture_output=True, text=True, timeout=60)
    assert big.returncode == 1 and "at most 256 voxels per axis" in big.stderr and "solve" not in big.stderr


def test_shared_options_work_before_and_after_the_command():
    from invgfx.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["ign", "train", "--seed", "3", "--debug"]).seed == 3
    assert parser.parse_args(["--seed", "2", "ign", "train"]).seed == 2
    given_late = parser.parse_args(["--device", "cuda", "rules", "learn", "x.txt", "--out", "r.json"])
    assert given_late.device == "cuda" and given_late.seed == 0 and given_late.debug is False


def test_a_busy_machine_runs_torch_on_one_thread_unless_the_user_chose():
    from invgfx.cli import one_thread_when_busy

    env = {}
    note = one_thread_when_busy(16.0, 2, env)
    assert env == {"OMP_NUM_THREADS": "1"} and "load 16.0 on 2 cores" in note and "OMP_NUM_THREADS" in note
    chosen = {"OMP_NUM_THREADS": "2"}
    assert one_thread_when_busy(16.0, 2, chosen) is None and chosen == {"OMP_NUM_THREADS": "2"}
    quiet = {}
    assert one_thread_when_busy(3.0, 2, quiet) is None and quiet == {}  # cores + 1 is not yet busy
