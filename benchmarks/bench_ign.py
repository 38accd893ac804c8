"""DC-IGN vs the entangled baseline on a procedural family: the paper's evidence as one table.

Renders (or loads from the cache) the dataset, trains DC-IGN (clamped) and the same network as a
plain VAE for the same number of steps, evaluates both on unseen identities, prints a markdown table
with timings and the machine, and writes sweep PNGs (paper figures 4, 5, 7 style) and scatter plots.

    .venv/bin/python benchmarks/bench_ign.py --family faces --steps 3000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from invgfx import available_cores
from invgfx.ign import CLAMPS, LR_SCHEDULES
from invgfx.ign.data import DatasetSpec, cache_path, load_or_generate
from invgfx.ign.evaluate import evaluate, format_table, scatter_data, sweep
from invgfx.ign.model import DCIGN, IGNConfig
from invgfx.ign.pictures import grid_picture, scatter_panels
from invgfx.ign.shapes import FAMILIES
from invgfx.ign.train import TrainConfig, load_checkpoint, train
from invgfx.splat.io_image import write_png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=sorted(FAMILIES), default="faces")
    ap.add_argument("--steps", type=int, default=3000, help="training steps per model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kl-weight", type=float,
                    help="KL weight of both models (default: TrainConfig's, (64/150)^2 = 0.18 at 64 px)")
    ap.add_argument("--ratio", type=float, nargs=4, default=(1, 1, 1, 10), metavar=("AZ", "EL", "LIGHT", "ID"),
                    help="DC-IGN's batch kind ratio (paper: 1 1 1 10)")
    ap.add_argument("--batches", type=int, nargs=4, default=DatasetSpec.batches, metavar=("AZ", "EL", "LIGHT", "ID"),
                    help="stored training batches per kind (default: DatasetSpec's, 40 40 40 160)")
    ap.add_argument("--mirror", action="store_true", help="both models also train on left-right flipped batches")
    ap.add_argument("--mirror-consistency", type=float, default=0.0, metavar="WEIGHT",
                    help="DC-IGN's mirror-consistency weight (see `invgfx ign train --help`; the baseline has no "
                    "named latents to negate) (default: 0, the paper)")
    ap.add_argument("--mirror-images", type=int, metavar="N",
                    help="images per batch flipped for the mirror consistency (see `invgfx ign train --help`; "
                    "default: all)")
    ap.add_argument("--spread-consistency", type=float, default=0.0, metavar="WEIGHT",
                    help="DC-IGN's spread-consistency weight (see `invgfx ign train --help`) (default: 0, the paper)")
    ap.add_argument("--invariance-consistency", type=float, default=0.0, metavar="WEIGHT",
                    help="DC-IGN's invariance-consistency weight (see `invgfx ign train --help`) (default: 0)")
    ap.add_argument("--clamp", choices=CLAMPS, default="mean",
                    help="DC-IGN's clamping (see `invgfx ign train --help`) (default: mean, the paper)")
    ap.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                    help="both models' learning-rate schedule (default: constant, the original code)")
    ap.add_argument("--lr", type=float, default=TrainConfig.lr,
                    help=f"both models' Adam learning rate (default: {TrainConfig.lr:g}, the original code)")
    ap.add_argument("--kernel", type=int, default=IGNConfig.enc_kernel, help=f"convolution kernel side of both networks (default: {IGNConfig.enc_kernel})")
    ap.add_argument("--out", default="runs/bench-ign", help="run folders, metrics.json")
    ap.add_argument("--images", default="docs/images", help="where the sweep/scatter PNGs go")
    ap.add_argument("--cache-dir", default=".invgfx_cache/ign")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads; on a shared 2-core machine one thread is ~7x faster than two (default: 1)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    spec = DatasetSpec(family=args.family, seed=args.seed, batches=tuple(args.batches))
    cached = cache_path(spec, args.cache_dir).exists()
    t0 = time.time()
    data = load_or_generate(spec, args.cache_dir, workers=available_cores())
    t_data = time.time() - t0
    out = Path(args.out) / args.family
    results, times, models = {}, {}, {}
    for name, baseline in (("DC-IGN", False), ("baseline", True)):
        cfg = TrainConfig(steps=args.steps, baseline=baseline, seed=args.seed, checkpoint_every=1000,
                          kl_weight=args.kl_weight, ratio=tuple(args.ratio), mirror=args.mirror,
                          lr=args.lr, lr_schedule=args.lr_schedule, mirror_weight=0.0 if baseline else args.mirror_consistency,
                          mirror_images=None if baseline else args.mirror_images,
                          spread_weight=0.0 if baseline else args.spread_consistency,
                          invariance_weight=0.0 if baseline else args.invariance_consistency,
                          clamp="mean" if baseline else args.clamp)
        t0 = time.time()
        network = IGNConfig(enc_kernel=args.kernel, dec_kernel=args.kernel)
        train(DCIGN(network), data.train, cfg, out / name, {"dataset": asdict(spec)})
        times[name] = time.time() - t0
        model, meta = load_checkpoint(out / name / "checkpoint.safetensors")
        t0 = time.time()
        results[name] = evaluate(model, data.test, meta["calibration"], args.seed)
        times[f"{name} eval"] = time.time() - t0
        models[name] = (model, meta["calibration"])

    print(f"\n## DC-IGN benchmark: {args.family}, {args.steps} steps per model, seed {args.seed}, KL weight "
          f"{cfg.kl_weight_at(spec.image_size):.3g}, DC-IGN batch ratio {':'.join(f'{r:g}' for r in args.ratio)}, "
          f"stored batches {' '.join(map(str, spec.batches))}{', mirrored' if args.mirror else ''}"
          f"{'' if args.kernel == IGNConfig.enc_kernel else f', {args.kernel}x{args.kernel} kernels'}"
          f"{'' if args.lr == TrainConfig.lr else f', learning rate {args.lr:g}'}"
          f"{'' if args.lr_schedule == 'constant' else f', {args.lr_schedule} learning-rate schedule'}"
          f"{f', DC-IGN mirror consistency {args.mirror_consistency:g}' if args.mirror_consistency else ''}"
          f"{f' on {args.mirror_images} images per batch' if args.mirror_consistency and args.mirror_images else ''}"
          f"{f', DC-IGN spread consistency {args.spread_consistency:g}' if args.spread_consistency else ''}"
          f"{f', DC-IGN invariance consistency {args.invariance_consistency:g}' if args.invariance_consistency else ''}"
          f"{f', DC-IGN clamp {args.clamp}' if args.clamp != 'mean' else ''}\n")
    print(format_table(results, spec.image_size))
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores "
          f"shared with other jobs (torch threads {torch.get_num_threads()}), no GPU; torch {torch.__version__}")
    print(f"dataset: {len(data.train.kinds)} batches x {spec.batch_size} + test grid "
          f"{'x'.join(map(str, data.test.images.shape[:4]))} -> {t_data:.0f} s ({'cache' if cached else 'rendered'})")
    for k, v in times.items():
        print(f"{k}: {v:.0f} s")
    (out / "metrics.json").write_text(json.dumps({"results": results, "times": times, "data_s": t_data}, indent=1))
    write_figures(models, data.test, spec, Path(args.images), args.family)


def write_figures(models: dict, grid, spec: DatasetSpec, folder: Path, family: str) -> None:
    """Sweeps of azimuth / elevation / light for DC-IGN and azimuth for the baseline on five unseen
    identities, and the factor-vs-latent scatter plots."""
    A, E, L = grid.images.shape[1:4]
    ids = np.linspace(0, len(grid.identities) - 1, 5).round().astype(int)
    inputs = grid.images[ids, A // 2, E // 2, L // 2]
    for name, (model, cal) in models.items():
        factors = ("azimuth", "elevation", "light") if name == "DC-IGN" else ("azimuth",)
        for k, factor in enumerate(factors):
            c = cal[factor]
            span = spec.ranges()[("azimuth", "elevation", "light").index(factor)]
            values = c["slope"] * np.linspace(-span, span, 9) + c["intercept"]
            write_png(folder / f"ign_{family}_{name.lower()}_{factor}.png",
                      grid_picture(sweep(model, inputs, c["latent"], values), scale=2))
        write_png(folder / f"ign_{family}_{name.lower()}_scatter.png", scatter_panels(scatter_data(grid, model, cal)))
    # ground truth for the same rows: the true renders across the azimuth grid
    truth = grid.images[ids][:, :, E // 2, L // 2].astype(np.float32) / 255
    write_png(folder / f"ign_{family}_truth_azimuth.png", grid_picture(truth, scale=2))
    print(f"figures: {folder}/ign_{family}_*.png")


if __name__ == "__main__":
    main()
