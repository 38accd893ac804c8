"""Autograd against finite differences for dL/dlog(E) through the simulated, rendered video, with
the substep following E (issue 36, item 1): the gradient of what is simulated.

For each scene and E, the loss is the reference-video loss (L2 + 1 - SSIM) against the scene at
its config's E, over frames 1..F. Autograd's dL/dlog(E) at E (the substep chosen for E, held in the
backward pass) is compared with the central difference (L(E e^h) - L(E e^-h)) / 2h, each side
simulated with the substep its own E gets (`--cfl`, as learn-physics does), and with the same
difference at E's own substep held fixed. Where the two differences part, the video depends on
the substep more than on E.

    python benchmarks/gradient_check.py [--scenes ball,plant] [--gaussians 300] [--values 1e3,1e4,1e5,1e6,1e7]
        [--frames 4] [--size 32] [--h 0.02]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import torch

from invgfx.dreamphysics import ParameterSet, ReferenceVideoPrior, scalar
from invgfx.dreamphysics.physics import mpm_video
from invgfx.dreamphysics.prior import Condition
from invgfx.mpm import load_config
from invgfx.scenes import make_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", default="ball,plant")
    parser.add_argument("--gaussians", type=int, default=300)
    parser.add_argument("--values", default="1e3,1e4,1e5,1e6,1e7", help="values of E (Pa), comma-separated")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--h", type=float, default=0.02, help="finite-difference step in log(E)")
    parser.add_argument("--cfl", type=float, default=0.4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}; "
          f"{args.gaussians} Gaussians, {args.size} px, frames 1..{args.frames}, h {args.h}, CFL {args.cfl}")
    print("| scene | E (Pa) | substeps / frame | autograd dL/dlogE | FD, substep following E | FD, substep fixed | "
          "autograd / FD (following) | autograd / FD (fixed) | CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    frames = torch.arange(1, args.frames + 1)
    for scene in args.scenes.split(","):
        cfg = load_config(f"configs/dreamphysics/{scene}.json")
        cloud = make_scene(scene, seed=0, n_gaussians=args.gaussians).cloud
        video = mpm_video(cloud, cfg, width=args.size, height=args.size, grad_substeps=None, cfl=args.cfl)
        fixed = mpm_video(cloud, cfg, width=args.size, height=args.size, grad_substeps=None, cfl=None)

        def at(sim, E):
            return ParameterSet([scalar("E", E, 1.0, 1e10)])

        with torch.no_grad():
            prior = ReferenceVideoPrior(video(at(video, cfg.E), frames))
        cond = Condition(frames=torch.arange(len(frames)))
        for E in (float(v) for v in args.values.split(",")):
            t = time.process_time()
            p = at(video, E)
            loss = prior.loss(video(p, frames), cond)
            loss.backward()
            auto = float(p["E"].value.grad) * E
            substeps = video.sim.config.substeps_per_frame
            with torch.no_grad():
                follow = [float(prior.loss(video(at(video, E * math.exp(s * args.h)), frames), cond)) for s in (1, -1)]
                fixed.sim.set_substep(video.sim.config.substep_dt)  # E's own substep, for both sides
                held = [float(prior.loss(fixed(at(fixed, E * math.exp(s * args.h)), frames), cond)) for s in (1, -1)]
            fd_follow = (follow[0] - follow[1]) / (2 * args.h)
            fd_fixed = (held[0] - held[1]) / (2 * args.h)
            print(f"| {scene} | {E:.0e} | {substeps} | {auto:+.3e} | {fd_follow:+.3e} | {fd_fixed:+.3e} | "
                  f"{auto / fd_follow:.2f} | {auto / fd_fixed:.2f} | {time.process_time() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
