"""Renderer speed and memory on this machine: prints a markdown table.

Each case runs in its own process so that its peak memory (max RSS) is its own. The scene is
the procedural ball with N Gaussians, framed to fill most of the image, as a solid object
renders; gradients flow to means, scales, rotations, opacities and colours.

    python benchmarks/bench_render.py            # the issue's cases
    python benchmarks/bench_render.py --quick    # smaller, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import time

CASES = [  # (Gaussians, image side, mode)
    (20_000, 256, "fwd+bwd"),
    (20_000, 256, "fwd"),
    (100_000, 512, "fwd"),
    (100_000, 512, "fwd+bwd"),
    (5_000, 64, "reference fwd+bwd"),  # the dense reference: 20k at 128^2 needs 22 GB
]
QUICK = [(5_000, 128, "fwd+bwd"), (5_000, 128, "fwd"), (2_000, 64, "reference fwd+bwd")]


def run_case(n: int, side: int, mode: str, repeats: int) -> dict:
    import torch

    from invgfx.scenes import ball
    from invgfx.splat.camera import orbit_camera
    from invgfx.splat.reference import render_reference
    from invgfx.splat.render import render_gaussians

    cloud = ball(seed=0, n_gaussians=n).cloud
    cam = orbit_camera(0.6, 0.3, 1.9, width=side, height=side, fov_y=math.radians(40))
    leaves = [t.clone().requires_grad_("bwd" in mode) for t in (cloud.means, cloud.quats, cloud.log_scales, cloud.opacity_logits, cloud.sh)]

    def step():
        means, quats, log_scales, logits, sh = leaves
        if mode.startswith("reference"):
            from invgfx.splat.geometry import covariance_from_quat_scale

            out = render_reference(means, torch.sigmoid(logits), sh, covariance_from_quat_scale(quats, log_scales.exp()),
                                   cam.viewmat, cam.K, side, side)
        else:
            out = render_gaussians(means, torch.sigmoid(logits), sh, cam.viewmat, cam.K, side, side, quats=quats,
                                   scales=log_scales.exp())
        if "bwd" in mode:
            (out.rgb.square().sum() + out.alpha.sum()).backward()
        return out

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.set_grad_enabled("bwd" in mode):
        out = step()  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            times.append(1000 * (time.perf_counter() - t0))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"n": n, "side": side, "mode": mode, "median_ms": statistics.median(times), "min_ms": min(times),
            "coverage": float(out.alpha.mean()), "peak_mb": (peak - base_rss) / 1024, "repeats": repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small cases only")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--case", nargs=3, metavar=("N", "SIDE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        n, side, mode = int(args.case[0]), int(args.case[1]), args.case[2]
        print(json.dumps(run_case(n, side, mode, args.repeats)))
        return
    import torch

    rows = []
    for n, side, mode in QUICK if args.quick else CASES:
        repeats = 3 if mode.startswith("reference") or n >= 100_000 else args.repeats
        res = subprocess.run([sys.executable, __file__, "--case", str(n), str(side), mode, "--repeats", str(repeats)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            print(f"case {n} {side} {mode} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, python {platform.python_version()}")
    print("| Gaussians | image | pass | median ms | min ms | coverage | peak extra memory MB |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['side']}x{r['side']} | {r['mode']} | {r['median_ms']:.0f} | {r['min_ms']:.0f} "
              f"| {r['coverage']:.2f} | {r['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
