"""The public PhysGaussian / DreamPhysics scene configs on real-layout captures: what each one
selects, fills and costs per substep on this machine.

Configs: tests/data/physgaussian/*.json and tests/data/dreamphysics/*.json (the values of their
public configs). Captures: `invgfx.scenes.capture.capture_in_area`, a closed surface of N flat
Gaussians laid out where each config expects its object (inside `sim_area` after its rotations,
a floor outside it). Every config runs as written: its grid, its substep, its filling.

    python benchmarks/physgaussian_configs.py [--gaussians 15000] [--substeps 3]

Columns: Gaussians kept (opacity, sim_area), particles filled (hidden / shown with
`visualize`), CPU seconds of the preprocessing (filling included), ms per forward substep at the
config's grid, and the substeps one frame takes.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import torch

from invgfx.mpm import Simulator, load_config
from invgfx.mpm.gaussians import prepare_particles, scene_rotation
from invgfx.scenes.capture import capture_in_area

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gaussians", type=int, default=15000, help="Gaussians on each capture's surface")
    parser.add_argument("--substeps", type=int, default=3, help="substeps timed per config (after one warm-up)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread; "
          f"captures of {args.gaussians} surface Gaussians")
    print("| config | material | grid | kept Gaussians | filled | preprocess CPU s | ms / substep | substeps / frame |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for path in sorted((DATA / "physgaussian").glob("*.json")) + sorted((DATA / "dreamphysics").glob("*.json")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg = load_config(path, e_unit="1e7Pa" if path.parent.name == "dreamphysics" else None)
        cloud = capture_in_area(scene_rotation(cfg.rotations), cfg.sim_area, args.gaussians)
        t0 = time.process_time()
        p = prepare_particles(cloud.means, cloud.covariances(), cloud.opacities, cfg,
                              generator=torch.Generator().manual_seed(0))
        prep = time.process_time() - t0
        captured = int(((p.gaussian_index >= 0) & (p.gaussian_index < len(cloud.means))).sum())
        filled = len(p.positions) - captured
        sim = Simulator(cfg, p.positions, p.volumes)
        state = sim.run(sim.initial_state(), None, 1)
        t0 = time.process_time()
        sim.run(state, None, args.substeps)
        ms = 1000 * (time.process_time() - t0) / args.substeps
        shown = " (shown)" if p.shown_fill is not None else ""
        print(f"| {path.parent.name}/{path.stem} | {cfg.material} | {cfg.n_grid}^3 | {captured} | {filled}{shown} | "
              f"{prep:.1f} | {ms:.0f} | {cfg.substeps_per_frame} |")


if __name__ == "__main__":
    main()
