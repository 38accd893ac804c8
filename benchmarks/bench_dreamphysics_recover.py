"""Physics recovery (issue 4; the metric DreamPhysics' section 5 asks for): render a ground-truth
video with a known Young's modulus, then learn E from 100x too low and 100x too high.

Scenes, reduced so that a run fits a 2-core CPU (fewer Gaussians, coarser grid, short frames):
  ball   configs/mpm/ball_jelly.json, jelly ball dropping onto the floor, E_true = 5e4 Pa
  plant  configs/mpm/plant_jelly.json, plant swaying after an impulse, E_true = 1e6 Pa (one E
         for the whole plant here; the config's stiffer-top region is overridden)
Priors: reference (L2 + 1 - SSIM to the ground truth) and analytic SDS (the exact DDPM denoiser
of the ground-truth video), both through the same loop (Adam in log E, M x T frames, full BPTT
unless --grad-substeps K). The substep follows E (invgfx.mpm.stable_substep, at most the
scene's substep below), so the 100x too stiff start is stable and the soft one is cheap.

Prints: scene, prior, BPTT, init, final E, relative error, first epoch within 10 %, epochs, wall
time, peak RSS. Target (issue 4): error <= 10 % within 30 epochs, <= 10 minutes per run.

    python benchmarks/bench_dreamphysics_recover.py [--scenes ball,plant] [--priors reference,analytic]
        [--epochs 30] [--grad-substeps 0] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from dataclasses import replace
from pathlib import Path

import torch

from invgfx.dreamphysics import AnalyticSDSPrior, LearnConfig, ParameterSet, ReferenceVideoPrior, learn, scalar
from invgfx.dreamphysics.physics import mpm_video
from invgfx.mpm import load_config
from invgfx.scenes import make_scene

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "mpm"
# name: (config file, procedural object, E_true Pa, overrides): 24^3 grid (dx = 8.3 cm); the
# substep given here is the longest used; stiffer E get 0.4 dx / c (c the P-wave speed).
SCENES = {
    "ball": ("ball_jelly.json", "ball", 5e4, {"n_grid": 24, "substep_dt": 8e-4, "frame_dt": 4e-2}),
    "plant": ("plant_jelly.json", "plant", 1e6, {"n_grid": 24, "substep_dt": 2e-4, "frame_dt": 1.6e-2}),
}


def run(scene: str, prior_name: str, factor: float, args) -> dict:
    file, obj, e_true, overrides = SCENES[scene]
    config = replace(load_config(CONFIGS / file), **overrides)
    simulate = mpm_video(make_scene(obj, seed=0, n_gaussians=args.gaussians).cloud, config, width=args.size,
                         height=args.size, grad_substeps=args.grad_substeps or None)
    learn_config = LearnConfig(epochs=args.epochs, groups=args.groups, frames_per_group=args.frames, lr=args.lr)
    with torch.no_grad():
        truth = simulate(ParameterSet([scalar("E", e_true, 1.0, 1e12)]),
                         torch.arange(learn_config.groups * learn_config.frames_per_group))
    prior = ReferenceVideoPrior(truth) if prior_name == "reference" else AnalyticSDSPrior(truth)
    e0 = e_true * factor
    params = ParameterSet([scalar("E", e0, e_true / 1e3, e_true * 1e3)])
    start = time.perf_counter()
    history = learn(simulate, params, prior, learn_config, progress=not args.quiet)
    errors = [abs(h["E"] - e_true) / e_true for h in history]
    within = next((i + 1 for i, e in enumerate(errors) if e <= 0.1), None)
    return {"scene": scene, "prior": prior_name, "bptt": f"K={args.grad_substeps}" if args.grad_substeps else "full",
            "init": e0, "final": history[-1]["E"], "error": errors[-1],
            "within": within, "epochs": len(history), "seconds": time.perf_counter() - start,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", default="ball,plant")
    parser.add_argument("--priors", default="reference,analytic")
    parser.add_argument("--factors", default="0.01,100", help="initial E / E_true (default 0.01,100)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8, help="frames per group")
    parser.add_argument("--lr", type=float, default=0.3, help="Adam step in log E (0.3: 100x in ~16 steps)")
    parser.add_argument("--gaussians", type=int, default=300, help="Gaussians of the procedural object")
    parser.add_argument("--size", type=int, default=48, help="render size in pixels")
    parser.add_argument("--grad-substeps", type=int, default=0,
                        help="K: differentiate the last K substeps before each frame; 0 (default): full BPTT")
    parser.add_argument("--quick", action="store_true", help="one scene, one prior, 10 epochs (a smoke run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    scenes, priors = args.scenes.split(","), args.priors.split(",")
    factors = [float(f) for f in args.factors.split(",")]
    if args.quick:
        scenes, priors, factors, args.epochs = scenes[-1:], priors[:1], factors[:1], 10
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"M={args.groups} x T={args.frames} frames, {args.size}px, {args.gaussians} Gaussians, lr {args.lr}, "
          f"BPTT {f'K={args.grad_substeps} substeps' if args.grad_substeps else 'full'}")
    print("| scene | prior | BPTT | init E (Pa) | final E (Pa) | rel. error | first epoch <= 10 % | epochs | wall s | peak RSS MB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for scene in scenes:
        for prior in priors:
            for factor in factors:
                r = run(scene, prior, factor, args)
                print(f"| {r['scene']} | {r['prior']} | {r['bptt']} | {r['init']:.3g} | {r['final']:.4g} | {100 * r['error']:.1f} % | "
                      f"{r['within'] or '-'} | {r['epochs']} | {r['seconds']:.0f} | {r['rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
