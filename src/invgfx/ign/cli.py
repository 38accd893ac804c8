"""`invgfx ign ...`: DC-IGN datasets, training, re-rendering, sweeps and evaluation.

Angles are degrees on the command line and radians inside the code.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from invgfx.ign import CLAMPS, LR_SCHEDULES, SPREAD_SHAPES, IGNError
from invgfx.outputs import add_restart, replaced, resumed

DESCRIPTION = """DC-IGN (Kulkarni et al. 2015): a convolutional VAE whose graphics code has one latent each
for azimuth (z1), elevation (z2) and light azimuth (z3) and a block for identity (z4...). It is trained
on mini-batches in which only one of these factors changes; the latents the batch does not own are
clamped to their batch mean, so the owner must explain all the change. Changing a latent then
re-renders the object under a new pose or light."""

EPILOG = """typical session (the same default recipe for every family; about 12 minutes on 2 cores):
  invgfx ign dataset --family teapots --preview pots.png     render + cache (faces, chairs, teapots, cars)
  invgfx ign train --family teapots --out runs/pots          DC-IGN, the default recipe
  invgfx ign train --family teapots --baseline --out runs/pots-vae    entangled baseline
  invgfx ign sweep --checkpoint runs/pots/checkpoint.safetensors --factor azimuth --out az.png
  invgfx ign rerender pot.png --checkpoint runs/pots/checkpoint.safetensors --azimuth 45 --out turned.png
  invgfx ign evaluate --checkpoint runs/pots/checkpoint.safetensors \\
      --baseline runs/pots-vae/checkpoint.safetensors --out runs/eval
  invgfx ign export runs/pots/checkpoint.safetensors pots.safetensors    weights + calibration only
your own renders (DIR/AZ_VARIED/<batch>/*.png, EL_VARIED, LIGHT_AZ_VARIED, SHAPE_VARIED; factors.csv optional):
  invgfx ign train --data DIR --out runs/mine [--minutes 15]
  invgfx ign evaluate --checkpoint runs/mine/checkpoint.safetensors --data TEST_DIR"""


CHECKPOINT_HELP = ("checkpoint.safetensors written by `invgfx ign train` or `ign export`, or the name of shipped "
                   "weights: faces (`invgfx models` lists them)")


def _checkpoint(path: str, option: str = "--checkpoint") -> str:
    from invgfx.models import resolve_weights

    return resolve_weights(path, option, "dcign")


def register(subparsers) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("ign", help="DC-IGN: learn a disentangled graphics code; re-render under new pose/light",
                              description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt)
    sub = p.add_subparsers(dest="ign_command", metavar="COMMAND")
    p.set_defaults(func=lambda args: p.print_help() or 2)

    d = sub.add_parser("dataset", help="render and cache a procedural dataset with known factors", formatter_class=fmt,
                       description="Render single-factor training batches (train identities) and a factor grid of "
                       "unseen test identities with the Gaussian renderer, and cache them under --cache-dir. "
                       "The same options and --seed give the same images.",
                       epilog="example:\n  invgfx ign dataset --family teapots --preview pots.png")
    _dataset_args(d)
    d.add_argument("--export-folders", metavar="DIR", help="also write the training batches in the original code's "
                   "layout DIR/{AZ_VARIED,EL_VARIED,LIGHT_AZ_VARIED,SHAPE_VARIED}/batchNNNN/*.png + factors.csv")
    d.add_argument("--preview", metavar="PNG", help="write one training batch of each kind as rows of a PNG")
    d.set_defaults(func=cmd_dataset)

    t = sub.add_parser("train", help="train DC-IGN (clamped) or the entangled baseline (--baseline)", formatter_class=fmt,
                       description="Train on single-factor batches drawn azimuth:elevation:light:identity = --ratio. "
                       "Writes OUT/checkpoint.safetensors every --checkpoint-every steps and OUT/log.csv; rerunning "
                       "the same command resumes from the checkpoint (use --restart to start over).",
                       epilog="examples:\n  invgfx ign train --family teapots --out runs/pots                  DC-IGN, "
                       "the default recipe\n  invgfx ign train --family teapots --baseline --out runs/pots-vae     the "
                       "entangled baseline\n  invgfx ign train --data DIR --out runs/mine --minutes 15            your "
                       "own renders")
    _dataset_args(t)
    t.add_argument("--data", metavar="DIR", help="train on your own images in the original layout "
                   "(DIR/AZ_VARIED/<batch>/*.png, EL_VARIED, LIGHT_AZ_VARIED, SHAPE_VARIED) instead of --family")
    t.add_argument("--factor-columns", metavar="F=COL,...", default=None,
                   help="with --data: the columns of factors.csv (at the top, paths relative to DIR, or in each batch "
                        "folder) that hold each factor, where their names are not the usual ones (path/file, azimuth/az, "
                        "elevation/el, light/light_azimuth, identity/id/shape), e.g. light=sun,path=image")
    t.add_argument("--baseline", action="store_true", help="train the same network as a plain VAE on random batches")
    t.add_argument("--recipe", choices=("default", "paper"), default="default",
                   help="default: the best this project knows, the same for every family it was measured on (3x3 "
                   "kernels, 13000 steps at 8e-4 with a late drop, swap clamping, batch kinds 1:2:1.5:3, mirror, "
                   "spread and invariance consistency; docs/ign.md); paper: the paper's procedure (5x5 kernels, "
                   "3000 steps at a constant 5e-4, mean clamping, 1:1:1:10). Options below override it "
                   "(default: default)")
    t.add_argument("--config", choices=("small", "paper"), default="small",
                   help="small: 64x64, 3+29 latents, CPU-sized; paper: the original 150x150, 200-latent network "
                   "(implies --size 150; a GPU config)")
    t.add_argument("--latents", type=int, default=32, help="latent count of the small config (default: 32)")
    t.add_argument("--kernel", type=int,
                   help="convolution kernel side (odd) of the small config, encoder and decoder (recipe default: 3, "
                   "which runs 2.2x the training steps/s of 5 on a CPU and is ahead per minute; paper: 5)")
    t.add_argument("--steps", type=int, help="training steps, one batch each (recipe default: 13000; paper: 3000; "
                   "with --minutes and no --steps, the time alone ends the run)")
    t.add_argument("--minutes", type=float, metavar="M",
                   help="train for M minutes of wall clock (or --steps, whichever ends first); the learning-rate "
                   "schedule follows the time spent, so it is stretched to the steps this machine manages; a "
                   "resumed run continues with the time it had left")
    t.add_argument("--lr", type=float, help="Adam learning rate (recipe default: 8e-4; paper: 5e-4, the original code)")
    t.add_argument("--strength", type=float, default=0.01,
                   help="invariance gradient scale for clamped latents (paper: about 1/100; default: 0.01)")
    t.add_argument("--kl-weight", type=float,
                   help="weight of the KL term against the reconstruction summed over pixels (1: the plain SGVB "
                   "bound; default: (SIZE/150)^2, the paper's balance at 150 px: 0.18 at 64 px)")
    t.add_argument("--ratio", type=float, nargs=4, metavar=("AZ", "EL", "LIGHT", "ID"),
                   help="batch kind ratio (recipe default: 1 2 1.5 3; paper: 1 1 1 10)")
    t.add_argument("--mirror", action="store_true",
                   help="also train on left-right flipped batches, which for left-right symmetric objects (the "
                   "procedural families) are exact renders at the negated azimuth and light; do not use it for "
                   "objects that are not symmetric")
    t.add_argument("--mirror-consistency", type=float, metavar="WEIGHT", dest="mirror_weight",
                   help="weight of ||code(flipped image) - code(image) with azimuth and light negated||^2 over the "
                   "three pose/light latents (a left-right flip shows the mirrored object at -azimuth, -light); "
                   "DC-IGN only (recipe default: 100; paper: 0)")
    t.add_argument("--mirror-images", type=int, metavar="N",
                   help="flip and encode only N images of each batch, drawn at random each step, for "
                   "--mirror-consistency (its weight is scaled by batch size / N, so it means the same): 10 of 20 runs "
                   "1.45x the steps/s (recipe default: 10; paper: the whole batch)")
    t.add_argument("--spread-consistency", type=float, metavar="WEIGHT", dest="spread_weight",
                   help="weight of B x (std over the batch of the varied latent - 1)^2 in azimuth, elevation and "
                   "light batches, so that latent moves as far per degree whatever the pose, light and identity "
                   "held fixed; DC-IGN only (recipe default: 300; paper: 0)")
    t.add_argument("--spread-shape", choices=SPREAD_SHAPES, default="std",
                   help="what --spread-consistency asks: std (the batch's std of the varied latent is 1) or uniform "
                   "(its sorted values, centred, are the expected order statistics of a unit-variance uniform, "
                   "the distribution the generator draws each factor from; the best code for it is linear in the "
                   "factor, so it also straightens a latent that saturates at the ends of the range) "
                   "(default: std)")
    t.add_argument("--invariance-consistency", type=float, metavar="WEIGHT", dest="invariance_weight",
                   help="weight of the sum over the batch of (latent - batch mean)^2 for the pose/light latents a "
                   "batch holds fixed (an azimuth batch's light latent should not move with the azimuth); DC-IGN "
                   "only (recipe default: 1000; paper: 0, its own pull being --strength)")
    t.add_argument("--clamp", choices=CLAMPS,
                   help="what the decoder gets for the latents a single-factor batch does not vary: mean (the paper: "
                   "their batch mean; their gradient is replaced by --strength x (z - mean)) or swap (another image's "
                   "of the same batch, with its reconstruction gradient, which asks them to be the same across the "
                   "batch at full strength); DC-IGN only (recipe default: swap; paper: mean)")
    t.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="constant (the original code), cosine (the learning rate falls from --lr to 0 over the run) "
                   "or drop (--lr for the first 5/6 of the run, then 0.3 x --lr); the rate depends on --steps (or "
                   "--minutes), so resuming to more steps changes the remaining rates (recipe default: drop; paper: "
                   "constant)")
    t.add_argument("--likelihood", choices=("bernoulli", "gaussian"), default="bernoulli",
                   help="reconstruction term of the SGVB loss: bernoulli (the original code; the decoder gives "
                   "logits) or gaussian (std 0.1; the decoder gives the mean intensity) (default: bernoulli)")
    t.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default: 500)")
    t.add_argument("--threads", type=int, help="torch CPU threads at most: training times windows of steps on 1 "
                   "and on this many every 500 steps and keeps the faster, because on a busy shared machine 2 threads "
                   "can run 2.3x slower than 1 (default: every available core)")
    t.add_argument("--out", help=resumed("run folder (default: runs/ign-FAMILY or runs/ign-FAMILY-baseline)"))
    add_restart(t)
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("rerender", help="re-render one image under a new azimuth / elevation / light",
                       formatter_class=fmt, description="Encode IMAGE, set the latents of the given factors to the "
                       "requested angles (through the linear map factor -> latent fitted on the training batches and "
                       "stored in the checkpoint), keep every other latent, decode. Factors not given keep the "
                       "values inferred from the image.",
                       epilog="example:\n  invgfx ign rerender pot.png --checkpoint runs/pots/checkpoint.safetensors "
                       "--azimuth 45 --out turned.png")
    r.add_argument("image", help="input PNG/JPEG (converted to grayscale and resized to the model's size)")
    r.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    r.add_argument("--azimuth", type=float, help="target azimuth in degrees (training range about -86..86)")
    r.add_argument("--elevation", type=float, help="target elevation in degrees (training range about -23..23)")
    r.add_argument("--light", type=float, help="target light azimuth in degrees (training range -80..80)")
    r.add_argument("--out", required=True, help=replaced("output PNG"))
    r.set_defaults(func=cmd_rerender)

    s = sub.add_parser("sweep", help="grid PNG: rows = unseen test images, columns = one latent swept",
                       formatter_class=fmt, description="As the paper's figures 4, 5 and 8: the first column is the "
                       "input, the others its re-renders with one latent swept and all others kept.",
                       epilog="examples:\n  invgfx ign sweep --checkpoint runs/pots/checkpoint.safetensors --factor "
                       "azimuth --out az.png\n  invgfx ign sweep --checkpoint runs/pots/checkpoint.safetensors --factor "
                       "z5 --out z5.png")
    s.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    s.add_argument("--factor", default="azimuth",
                   help="azimuth, elevation, light (swept over the training range through the calibration) or zN "
                   "(latent N, 1-based, swept over -3..3 prior standard deviations); default: azimuth")
    s.add_argument("--images", nargs="+", metavar="PNG", help="input images (default: unseen test identities)")
    s.add_argument("--rows", type=int, default=5, help="test images when --images is not given (default: 5)")
    s.add_argument("--cols", type=int, default=9, help="swept values (default: 9)")
    s.add_argument("--scale", type=int, default=2, help="integer upscaling of the PNG (default: 2)")
    s.add_argument("--cache-dir", default=".invgfx_cache/ign", help="dataset cache (default: .invgfx_cache/ign)")
    s.add_argument("--out", required=True, help=replaced("output PNG"))
    s.set_defaults(func=cmd_sweep)

    e = sub.add_parser("evaluate", help="R^2, novel-view error, reconstruction, disentanglement metrics",
                       formatter_class=fmt, description="Evaluate on the unseen identities of the checkpoint's "
                       "dataset: R^2 of each extrinsic latent vs its factor (+ scatter PNG), novel-view re-render "
                       "MSE (vs copying the input), reconstruction MSE per pixel, beta-VAE, FactorVAE, MIG, DCI, SAP, "
                       "identity accuracy and pose/light invariance of the intrinsic block.",
                       epilog="example:\n  invgfx ign evaluate --checkpoint runs/pots/checkpoint.safetensors "
                       "--baseline runs/pots-vae/checkpoint.safetensors --out runs/eval")
    e.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    e.add_argument("--baseline", metavar="CHECKPOINT", help="entangled baseline checkpoint to compare with (a file, "
                   "or the name of shipped weights)")
    e.add_argument("--cache-dir", default=".invgfx_cache/ign", help="dataset cache (default: .invgfx_cache/ign)")
    e.add_argument("--data", metavar="TEST_DIR", help="evaluate on a folder of unseen identities in the original layout "
                   "(TEST_DIR/AZ_VARIED/<batch>/*.png, ...; factors.csv as for `ign train --data`) instead of the "
                   "checkpoint's procedural test grid: R^2, latent-swap and calibrated re-render MSE within each batch "
                   "beside copying the input and decoding the unchanged code, reconstruction, identity accuracy")
    e.add_argument("--factor-columns", metavar="F=COL,...", default=None, help="with --data: as for `ign train`")
    e.add_argument("--metric-points", type=int, default=2000,
                   help="training points of the classifier-based metrics; the others scale with it "
                   "(disentanglement_lib uses 10000; 0 skips the metrics; default: 2000)")
    e.add_argument("--out", help=replaced("folder for metrics.json and scatter PNGs"))
    e.set_defaults(func=cmd_evaluate)

    from invgfx.ign.export import register_export

    register_export(sub)


def _dataset_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("procedural dataset")
    g.add_argument("--family", choices=("faces", "chairs", "teapots", "cars"), default="faces",
                   help="faces: heads of ellipsoids; chairs: seat, back, legs, optional arms; teapots: a round body "
                   "whose azimuth shows only in a thin spout and handle; cars: boxes and wheels under a light fixed "
                   "in the world (default: faces)")
    g.add_argument("--size", type=int, help="image side in pixels (default: 64; 150 with --config paper)")
    g.add_argument("--identities", type=int, default=100, help="objects in all (default: 100)")
    g.add_argument("--test-identities", type=int, default=20, help="of which held out, never trained on (default: 20)")
    g.add_argument("--batches", type=int, nargs=4, default=(120, 120, 120, 160), metavar=("AZ", "EL", "LIGHT", "ID"),
                   help="stored training batches per kind (default: 120 120 120 160, 10,400 images)")
    g.add_argument("--batch-size", type=int, default=20, help="images per batch (paper: 20)")
    g.add_argument("--grid", type=int, nargs=3, default=(9, 3, 5), metavar=("AZ", "EL", "LIGHT"),
                   help="values per factor of the test grid (default: 9 3 5)")
    g.add_argument("--azimuth-range", type=float, default=math.degrees(1.5),
                   help="azimuths in +-this many degrees (default: 85.9 = 1.5 rad; 180 for a full turn)")
    g.add_argument("--elevation-range", type=float, default=math.degrees(0.4), help="degrees (default: 22.9 = 0.4 rad)")
    g.add_argument("--light-range", type=float, default=80.0, help="degrees (default: 80)")
    g.add_argument("--cache-dir", default=".invgfx_cache/ign", help="dataset cache (default: .invgfx_cache/ign)")
    g.add_argument("--workers", type=int, help="rendering processes when the dataset is not cached yet (the images "
                   "do not depend on it; default: every available CPU core)")


def _workers(args) -> int:
    from invgfx import available_cores

    workers = getattr(args, "workers", None)  # evaluate and sweep have no --workers
    if workers is not None and workers < 1:
        raise IGNError(f"--workers must be at least 1, got {workers}")
    return workers or available_cores()


def _spec(args):
    from invgfx.ign.data import DatasetSpec

    size = args.size or (150 if getattr(args, "config", "small") == "paper" else 64)
    return DatasetSpec(args.family, size, args.identities, args.test_identities, tuple(args.batches), args.batch_size,
                       tuple(args.grid), math.radians(args.azimuth_range), math.radians(args.elevation_range),
                       math.radians(args.light_range), args.seed)


def cmd_dataset(args) -> None:
    import numpy as np

    from invgfx.ign.data import FOLDERS, cache_path, export_folders, load_or_generate
    from invgfx.ign.pictures import grid_picture
    from invgfx.splat.io_image import write_png

    spec = _spec(args)
    data = load_or_generate(spec, args.cache_dir, workers=_workers(args))
    t, g = data.train, data.test
    print(f"{spec.family}: {len(t.kinds)} training batches of {t.images.shape[1]} "
          f"({', '.join(f'{(t.kinds == k).sum()} {n}' for k, n in enumerate(FOLDERS.values()))}), "
          f"test grid {g.images.shape[0]} unseen identities x {g.images.shape[1]}x{g.images.shape[2]}x"
          f"{g.images.shape[3]} (az x el x light), {spec.image_size} px")
    print(f"cache: {cache_path(spec, args.cache_dir)}")
    if args.export_folders:
        export_folders(t, args.export_folders)
        print(f"batches written to {args.export_folders}/")
    if args.preview:
        rows = np.stack([t.images[(t.kinds == k).argmax()][:10] for k in range(4) if (t.kinds == k).any()])
        write_png(args.preview, grid_picture(rows / 255.0, scale=2))
        print(f"preview (rows: azimuth, elevation, light, identity batches): {args.preview}")


def cmd_train(args) -> None:
    from dataclasses import asdict, replace

    import torch

    from invgfx.ign.data import load_folders, load_or_generate, parse_factor_columns
    from invgfx.ign.model import DCIGN, IGNConfig, n_parameters
    from invgfx.ign.train import UNTIL_BUDGET, TrainConfig, recipe, train

    from invgfx import available_cores

    torch.manual_seed(args.seed)
    threads = args.threads or available_cores()
    if threads < 1:
        raise IGNError(f"--threads must be at least 1, got {threads}")
    kernel, fields = recipe(args.recipe, args.baseline, args.minutes,
                            **{k: getattr(args, k) for k in ("kernel", "steps", "lr", "lr_schedule", "clamp",
                                                             "mirror_weight", "mirror_images", "spread_weight",
                                                             "invariance_weight")},
                            ratio=tuple(args.ratio) if args.ratio else None)
    if args.config == "paper" and args.kernel:
        raise IGNError("--kernel sets the small config's kernels; the paper config has the original code's (5, 7)")
    config = IGNConfig.paper() if args.config == "paper" else IGNConfig(
        image_size=args.size or 64, n_latent=args.latents, enc_kernel=kernel, dec_kernel=kernel)
    config = replace(config, likelihood=args.likelihood)
    # checked before the data, which may take minutes to render
    cfg = TrainConfig(**fields, strength=args.strength, kl_weight=args.kl_weight, baseline=args.baseline,
                      mirror=args.mirror, spread_shape=args.spread_shape, checkpoint_every=args.checkpoint_every,
                      seed=args.seed)
    if args.data:
        columns = parse_factor_columns(args.factor_columns)
        batches, meta = load_folders(args.data, config.image_size, columns), {"data_folder": str(args.data)}
        name = Path(args.data).name
    else:
        spec = _spec(args)
        batches, meta = load_or_generate(spec, args.cache_dir, workers=_workers(args)).train, {"dataset": asdict(spec)}
        name = spec.family
    out = Path(args.out or f"runs/ign-{name}{'-baseline' if args.baseline else ''}")
    model = DCIGN(config).to(args.device)
    length = (f"{cfg.minutes:g} min" + (f" or {cfg.steps} steps" if cfg.steps < UNTIL_BUDGET else "")
              if cfg.minutes else f"{cfg.steps} steps")
    print(f"{'baseline VAE' if args.baseline else 'DC-IGN'} ({args.recipe} recipe): {n_parameters(model):,} parameters, "
          f"{len(batches.kinds)} batches, {length} -> {out}")
    train(model, batches, cfg, out, meta, resume=not args.restart, threads=threads)
    print(f"checkpoint: {out / 'checkpoint.safetensors'}   log: {out / 'log.csv'}")


def cmd_rerender(args) -> None:
    from invgfx.ign.data import load_image
    import torch

    from invgfx.ign.evaluate import decode, encode, outside_training, set_factor
    from invgfx.ign.train import load_checkpoint
    from invgfx.splat.io_image import write_png

    model, meta = load_checkpoint(_checkpoint(args.checkpoint), args.device)
    targets = {"azimuth": args.azimuth, "elevation": args.elevation, "light": args.light}
    if all(v is None for v in targets.values()):
        raise IGNError("give at least one of --azimuth, --elevation, --light (degrees)")
    z = encode(model, load_image(args.image, model.config.image_size)[None])
    for name, deg in targets.items():
        if deg is None:
            continue
        if name not in meta.get("calibration", {}):
            raise IGNError(f"--{name}: the checkpoint has no calibration for {name} (its training data had no "
                           f"{name} batches with known angles)")
        warning = outside_training(name, meta["calibration"][name], math.radians(deg))
        if warning:
            import warnings

            warnings.warn(warning, stacklevel=2)
        z = set_factor(z, meta["calibration"][name], math.radians(deg))
    write_png(args.out, torch.from_numpy(decode(model, z)[0]))
    print(f"wrote {args.out}")


def cmd_sweep(args) -> None:
    import numpy as np

    from invgfx.ign.data import dataset_of_checkpoint, load_image
    from invgfx.ign.evaluate import sweep
    from invgfx.ign.pictures import grid_picture
    from invgfx.ign.train import load_checkpoint
    from invgfx.splat.io_image import write_png

    model, meta = load_checkpoint(_checkpoint(args.checkpoint), args.device)
    spec = None
    if args.images:
        images = np.stack([load_image(p, model.config.image_size) for p in args.images])
    else:
        spec, data = dataset_of_checkpoint(meta, args.cache_dir, _workers(args))
        g = data.test
        ids = np.linspace(0, len(g.identities) - 1, min(args.rows, len(g.identities))).round().astype(int)
        A, E, L = g.images.shape[1:4]
        images = g.images[ids, A // 2, E // 2, L // 2]
    factor = args.factor
    if factor.startswith("z") and factor[1:].isdigit():
        latent = int(factor[1:]) - 1
        if not 0 <= latent < model.config.n_latent:
            raise IGNError(f"--factor {factor}: the model has latents z1..z{model.config.n_latent}")
        values = np.linspace(-3, 3, args.cols)
    elif factor in meta.get("calibration", {}):
        cal = meta["calibration"][factor]
        k = ("azimuth", "elevation", "light").index(factor)
        span = spec.ranges()[k] if spec else [1.5, 0.4, math.radians(80)][k]
        latent, values = cal["latent"], cal["slope"] * np.linspace(-span, span, args.cols) + cal["intercept"]
    else:
        raise IGNError(f"--factor {factor!r}: use azimuth, elevation, light or zN (N = 1..{model.config.n_latent})")
    write_png(args.out, grid_picture(sweep(model, images, latent, values), args.scale))
    print(f"wrote {args.out}: {len(images)} rows, input + {len(values)} values of z{latent + 1} ({factor})")


def cmd_evaluate(args) -> None:
    import json

    from types import SimpleNamespace

    from invgfx.ign.data import dataset_of_checkpoint, load_folders, parse_factor_columns, thin_part_views
    from invgfx.ign.evaluate import evaluate, evaluate_batches, format_table, scatter_data
    from invgfx.ign.pictures import scatter_panels
    from invgfx.ign.train import load_checkpoint
    from invgfx.splat.io_image import write_png

    runs = {"DC-IGN": _checkpoint(args.checkpoint)}
    if args.baseline:
        runs["baseline"] = _checkpoint(args.baseline, "--baseline")
    results, spec, without_thin = {}, None, None
    for name, path in runs.items():
        model, meta = load_checkpoint(path, args.device)
        if args.data:  # a test folder: single-factor batches, no grid
            size = model.config.image_size
            batches = load_folders(args.data, size, parse_factor_columns(args.factor_columns))
            results[name] = evaluate_batches(model, batches, meta.get("calibration", {}), args.seed)
            spec = SimpleNamespace(image_size=size)
            continue
        spec, data = dataset_of_checkpoint(meta, args.cache_dir, _workers(args))
        if without_thin is None:
            without_thin = thin_part_views(spec, data.test)
        results[name] = evaluate(model, data.test, meta["calibration"], args.seed, args.metric_points, without_thin,
                                 status=lambda stage, name=name: print(f"{name}: {stage}", file=sys.stderr, flush=True))
        if args.out:
            png = Path(args.out) / f"scatter_{name.lower()}.png"
            write_png(png, scatter_panels(scatter_data(data.test, model, meta["calibration"])))
            print(f"scatter plot: {png}")
    print(format_table(results, spec.image_size))
    if args.out:
        (Path(args.out) / "metrics.json").write_text(json.dumps(results, indent=1))
        print(f"metrics: {Path(args.out) / 'metrics.json'}")
