"""What the shipped learned prior judges: its loss on each canonical scene against E.

For every class (default: all five), simulate the canonical scenario (invgfx.dreamphysics.learned
.demo_scene: the seed-0 object, the front-left camera, no random push) at E from 100x below the
bottom of its plausible range to 100x above its top, render 2 groups x 8 frames at 32 px, and
average the prior's loss, -log p(plausible | x_t), over the groups and --draws noise draws (the
same draws at every E). Prints one table per class: E, position relative to the range, loss,
p(plausible) = exp(-loss), and the seconds the simulation took. A prior that judges stiffness
has its minimum inside the range and grows on both sides. --png writes a picture: a row per
class, a column per E, each cell the clip's last frame (3x, nearest) under its p(plausible).

    python benchmarks/prior_judgement.py [--classes ball,plant] [--weights FILE] [--png docs/images/prior_judgement.png]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", default="ball,box,chair,plant,cable")
    ap.add_argument("--weights", default=None, help="classifier .safetensors (default: the shipped one)")
    ap.add_argument("--draws", type=int, default=8, help="noise draws per group (default 8)")
    ap.add_argument("--png", default=None, help="write the picture here")
    args = ap.parse_args()

    import warnings

    import torch

    from invgfx.dreamphysics.learned import SHIPPED, default_prior
    from invgfx.dreamphysics.learned.data import render_clip
    from invgfx.dreamphysics.learned.scenarios import CLASSES, GROUPS, scenario
    from invgfx.dreamphysics.prior import Condition
    from invgfx.splat import write_png

    warnings.filterwarnings("ignore", category=RuntimeWarning)
    torch.set_num_threads(1)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; prior "
          f"{args.weights or SHIPPED}; {GROUPS} groups x {args.draws} draws; torch {torch.__version__}")
    rows = []
    for name in args.classes.split(","):
        prior = default_prior(name, weights=args.weights, samples=args.draws)
        lo, hi = CLASSES[name].E_range
        grid = [("100x below", lo / 100), ("10x below", lo / 10), ("3x below", lo / 3), ("bottom", lo),
                ("middle", math.sqrt(lo * hi)), ("top", hi), ("3x above", hi * 3), ("10x above", hi * 10),
                ("100x above", hi * 100)]
        print(f"\n{name} (plausible {lo:.0e} - {hi:.0e} Pa)\n")
        print("| E (Pa) | where | loss | p(plausible) | simulation s |")
        print("|---:|---|---:|---:|---:|")
        for where, E in grid:
            began = time.perf_counter()
            with torch.no_grad():
                video = render_clip(scenario(name, 0, E=E, canonical=True), 32)
            seconds = time.perf_counter() - began
            loss = sum(float(prior.loss(video[g::GROUPS], Condition(), torch.Generator().manual_seed(0)))
                       for g in range(GROUPS)) / GROUPS
            print(f"| {E:.2g} | {where} | {loss:.3f} | {math.exp(-loss):.3f} | {seconds:.1f} |", flush=True)
            rows.append((name, where, E, loss, video[-1].repeat_interleave(3, -1).repeat_interleave(3, -2)))
    if args.png:
        import numpy as np
        from PIL import Image, ImageDraw

        columns = len(grid)
        cell, top, left = rows[0][4].shape[-1], 14, 60
        canvas = Image.new("RGB", (left + columns * (cell + 4), (len(rows) // columns) * (cell + top + 4) + top), "white")
        draw = ImageDraw.Draw(canvas)
        for c, (where, _) in enumerate(grid):
            draw.text((left + c * (cell + 4), 0), where, fill="black")
        for k, (name, where, E, loss, frame) in enumerate(rows):
            r, c = divmod(k, columns)
            x, y = left + c * (cell + 4), top + r * (cell + top + 4)
            if c == 0:
                draw.text((2, y + top + cell // 2), name, fill="black")
            draw.text((x, y), f"{E:.0e} p={math.exp(-loss):.2f}", fill="black")
            canvas.paste(Image.fromarray((frame.permute(1, 2, 0).clamp(0, 1) * 255).byte().numpy()), (x, y + top))
        write_png(args.png, torch.from_numpy(np.array(canvas)).permute(2, 0, 1).float() / 255)
        print(f"\nwrote {args.png}")


if __name__ == "__main__":
    main()
