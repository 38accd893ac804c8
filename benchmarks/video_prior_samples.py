"""Do the generative video prior's samples look like the simulations it was trained on?

For every class, --per-class scenarios no training clip used are simulated (the truth, 8 frames
at 32 px, every second frame as the prior sees them) and --samples videos are sampled for their
first frame and caption (DDIM, --steps, from pure noise unless --start < 1). Prints, per class:
the samples' MSE against the simulation over frames 1..7, the same for the first frame held
still (the score of a model that only copies its condition), the mean |frame k - frame 0| of the
samples and of the simulations (how much they move), and the samples' frame-0 MSE against the
condition. --png writes the grid (per scenario the simulation, then its samples) and a GIF.

    python benchmarks/video_prior_samples.py --weights out/prior/run/prior.safetensors [--png docs/images/video_prior_samples.png]
"""

from __future__ import annotations

import argparse
import os
import platform
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="generative prior .safetensors (default: the shipped one)")
    ap.add_argument("--per-class", type=int, default=4, help="unseen scenarios per class (default 4)")
    ap.add_argument("--samples", type=int, default=2, help="samples per scenario (default 2)")
    ap.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25)")
    ap.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance (default 1)")
    ap.add_argument("--start", type=float, default=1.0, help="noise level to start from (default 1: pure noise)")
    ap.add_argument("--png", default=None, help="write the grid here (and a GIF beside it)")
    args = ap.parse_args()

    import torch

    from invgfx.dreamphysics.learned import SHIPPED_DENOISER
    from invgfx.dreamphysics.learned.model import load_denoiser
    from invgfx.dreamphysics.learned.train import sample_unseen, scores_table, write_sample_grid

    torch.set_num_threads(1)
    weights = args.weights or SHIPPED_DENOISER
    model, meta = load_denoiser(weights)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; torch {torch.__version__}; "
          f"prior {weights} ({meta.get('steps', '?')} steps); {args.per_class} scenarios x {args.samples} samples per "
          f"class, DDIM {args.steps} steps from noise level {args.start}, guidance {args.guidance}")
    start = time.perf_counter()
    rows, scores = sample_unseen(model, args.per_class, args.samples, args.steps, args.guidance, args.start)
    print(scores_table(scores))
    print(f"# {time.perf_counter() - start:.0f} s (simulations and sampling)")
    if args.png:
        write_sample_grid(args.png, rows, args.samples, model.config)


if __name__ == "__main__":
    main()
