"""How well can DC-IGN's encoder read each angle at all? The ceiling for the R^2 targets.

Trains the DC-IGN encoder (same convolutions, `IGNConfig()`) with a linear head *supervised* to
regress azimuth, elevation and light (each scaled by its range, MSE) on every image of the training
batches, then prints the R^2 of each prediction against the truth on the unseen identities of the
test grid: the same R^2 as `invgfx ign evaluate`, with labels the clamped training never sees.
A factor this bound cannot read from one image (e.g. a light's side on a symmetric object seen
frontally) cannot reach the target by any unsupervised code either.

    .venv/bin/python benchmarks/ign_supervised_bound.py --family chairs
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from torch import nn

from invgfx.ign.data import DatasetSpec, load_or_generate
from invgfx.ign.evaluate import EXTRINSIC, r_squared
from invgfx.ign.model import DCIGN, IGNConfig
from invgfx.ign.shapes import FAMILIES
from invgfx.ign.train import to_tensor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=sorted(FAMILIES), default="faces")
    ap.add_argument("--batches", type=int, nargs=4, default=DatasetSpec.batches, metavar=("AZ", "EL", "LIGHT", "ID"),
                    help="stored training batches per kind (default: DatasetSpec's, 40 40 40 160)")
    ap.add_argument("--steps", type=int, default=1000, help="supervised steps (default: 1000)")
    ap.add_argument("--batch", type=int, default=32, help="images per step (default: 32)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=".invgfx_cache/ign")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    spec = DatasetSpec(family=args.family, seed=args.seed, batches=tuple(args.batches))
    data = load_or_generate(spec, args.cache_dir)
    images = data.train.images.reshape(-1, spec.image_size, spec.image_size)
    targets = torch.tensor(data.train.factors.reshape(-1, 4)[:, :3] / spec.ranges(), dtype=torch.float32)
    net = DCIGN(IGNConfig(image_size=spec.image_size))
    head = nn.Linear(net.to_mu.in_features, 3)
    opt = torch.optim.Adam([*net.encoder.parameters(), *head.parameters()], lr=1e-3)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    for _ in range(args.steps):
        idx = rng.choice(len(images), args.batch, replace=False)
        loss = ((head(net.encoder(to_tensor(images[idx]))) - targets[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.time() - t0
    grid = data.test
    with torch.no_grad():
        flat = grid.images.reshape(-1, spec.image_size, spec.image_size)
        pred = torch.cat([head(net.encoder(to_tensor(flat[i:i + 256]))) for i in range(0, len(flat), 256)]).numpy()
    truth = grid.factor_values().reshape(-1, 4)
    print(f"\nSupervised encoder, {args.family}, {len(images)} training images, {args.steps} steps of {args.batch} "
          f"({seconds:.0f} s, {platform.machine()}, {torch.get_num_threads()} torch thread(s)); "
          f"test grid: {len(grid.identities)} unseen identities x {np.prod(grid.images.shape[1:4])} cells\n")
    print("| factor | R^2 of the supervised prediction (unseen identities) |\n|---|---:|")
    for k, name in enumerate(EXTRINSIC):
        print(f"| {name} | {r_squared(truth[:, k], pred[:, k]):.3f} |")


if __name__ == "__main__":
    main()
