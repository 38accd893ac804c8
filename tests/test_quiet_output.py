"""What a physics command prints on a CPU (issue 38): no Warp greeting, no 'CUDA driver not
found' line, and a warning during a progress bar on a line of its own."""

import io
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _invgfx(*argv, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "invgfx.cli", *argv], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout + run.stderr


def test_simulate_on_a_cpu_prints_no_warp_banner(tmp_path):
    """A fresh process, so that Warp initialises in it (the banner comes once per process)."""
    assert "Warp" not in _invgfx("simulate", "--help", cwd=tmp_path)
    out = _invgfx("simulate", str(ROOT / "configs/mpm/ball_jelly.json"), "--scene", "ball", "--scene-set",
                  "n_gaussians=200", "--frames", "2", "--width", "16", "--height", "16", "--out", "s.mp4", cwd=tmp_path)
    assert "wrote s.mp4" in out
    for banner in ("Warp ", "CUDA driver", "Kernel cache", "Module invgfx.mpm"):
        assert banner not in out, out


def test_a_warning_during_a_progress_bar_is_written_above_it():
    from tqdm import tqdm

    from invgfx.cli import above_progress_bars

    stream = io.StringIO()

    def show(message, category, filename, lineno, file=None, line=None):  # as warnings' own writes it
        stream.write(f"invgfx: warning: {message}\n")

    show_warning = above_progress_bars(show)
    assert above_progress_bars(show_warning) is show_warning  # main() run twice wraps once
    bar = tqdm(total=3, file=stream, desc="simulate", mininterval=0)
    bar.update(1)
    show_warning(UserWarning("12 particles reached the edge"), UserWarning, "solver.py", 1, file=stream)
    bar.update(1)
    bar.close()
    lines = stream.getvalue().split("\n")
    warned = [k for k, line in enumerate(lines) if "12 particles reached the edge" in line]
    assert len(warned) == 1
    k = warned[0]
    assert lines[k].split("\r")[-1] == "invgfx: warning: 12 particles reached the edge"  # its own line, bar cleared
    assert "simulate:  67%" in lines[k + 1]  # and the bar drawn again below it
