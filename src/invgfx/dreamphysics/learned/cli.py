"""`invgfx video-prior data|train|classifier|sample`: make the learned prior's clips, train it (and
its plausibility classifier), look at it."""

from __future__ import annotations

import argparse

from invgfx.outputs import add_restart, replaced, resumed

HELP = """The learned video prior, trained on procedural MPM clips (a jelly ball, a jelly cube, a
soft chair, a plant, a rope; physical parameters from plausible ranges and 3x-300x outside them,
see invgfx.dreamphysics.learned.scenarios). What ships with invgfx, and is the default prior of
`invgfx learn-physics --prior text:... | image:... | plausible:CLASS`, is a small video diffusion
model (a UNet3D denoiser conditioned on a caption and the first frame) whose SDS is guided by a
plausibility classifier on noised clips. These commands reproduce both: data (simulate clips),
classifier and train (the two models), sample (a grid of the denoiser's samples to look at, with
their distance to the simulations)."""

EXAMPLES = """examples (the shipped prior's recipe, ~13 + ~19 + ~68 min on 2 cores):
  invgfx video-prior data --out out/prior/clips --per-class 100 --implausible-per-class 100 --workers 2
  invgfx video-prior classifier --clips out/prior/clips --out out/prior/clf --threads 2
  invgfx video-prior train --clips out/prior/clips --out out/prior/run --steps 5000 --threads 2
  invgfx video-prior sample --weights out/prior/run/prior.safetensors --out out/prior/samples.png --per-class 4"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video-prior", help="make data for, train and sample the learned video prior",
                       description=HELP, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = p.add_subparsers(dest="prior_command", required=True)

    fmt = argparse.RawDescriptionHelpFormatter
    d = cmds.add_parser("data", help="simulate and render training clips (resumable, multi-process)",
                        description="Simulate the procedural classes (ball, cube, chair, plant, rope) with MPM at "
                        "physical parameters drawn from their plausible ranges (and 3x-300x outside them), render each "
                        "as a captioned clip and store the clips in shards; rerunning the command adds the missing "
                        "shards.", formatter_class=fmt,
                        epilog="example:\n  invgfx video-prior data --out out/prior/clips --per-class 100 "
                        "--implausible-per-class 100 --workers 2")
    d.add_argument("--out", required=True, help=resumed("folder for shard_*.npz"))
    d.add_argument("--per-class", type=int, default=100, help="plausible clips per object class (default 100)")
    d.add_argument("--implausible-per-class", type=int, default=100,
                   help="clips per class with E 3x-300x outside the plausible range, captioned '... with unrealistic "
                        "physics': what the classifier learns to tell apart, and the negative prompt of the "
                        "generative prior's SDS (default 100)")
    d.add_argument("--size", type=int, default=32, help="frame side in pixels (default 32)")
    d.add_argument("--workers", type=int, default=2, help="processes (Warp on a CPU is single-threaded; default 2)")
    add_restart(d)
    d.set_defaults(func=run_data)

    t = cmds.add_parser("train", help="train the diffusion model (resumes from OUT/checkpoint.pt)",
                        description="Train the video diffusion model (a UNet3D denoiser conditioned on a caption and "
                        "the first frame) on the clips of `video-prior data`; rerunning resumes from OUT/checkpoint.pt.",
                        formatter_class=fmt,
                        epilog="example:\n  invgfx video-prior train --clips out/prior/clips --out out/prior/run "
                        "--steps 5000 --threads 2")
    t.add_argument("--clips", required=True, help="folder of shard_*.npz from `video-prior data`")
    t.add_argument("--out", required=True, help=resumed("folder for prior.safetensors (EMA weights), checkpoint.pt, log.csv"))
    t.add_argument("--steps", type=int, default=5000, help="optimiser steps in total (default 5000, as TrainConfig)")
    t.add_argument("--batch", type=int, default=8, help="videos per step (default 8)")
    t.add_argument("--lr", type=float, default=4e-4, help="AdamW learning rate (default 4e-4)")
    t.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    add_restart(t)
    t.set_defaults(func=run_train)

    c = cmds.add_parser("classifier", help="train the plausibility classifier on noised clips (resumes from "
                        "OUT/checkpoint.pt)",
                        description="Train the classifier that tells clips with plausible physics from implausible "
                        "ones on noised clips (it guides the learned prior's SDS); it needs the implausible clips of "
                        "`video-prior data --implausible-per-class`; rerunning resumes from OUT/checkpoint.pt.",
                        formatter_class=fmt,
                        epilog="example:\n  invgfx video-prior classifier --clips out/prior/clips --out out/prior/clf "
                        "--threads 2")
    c.add_argument("--clips", required=True, help="folder of shard_*.npz from `video-prior data` (with implausible "
                   "clips); more than 75 clips, as 75 are held out to measure the accuracy")
    c.add_argument("--out", required=True, help=resumed("folder for classifier.safetensors, checkpoint.pt, log.csv"))
    c.add_argument("--steps", type=int, default=5000, help="optimiser steps in total (default 5000)")
    c.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    add_restart(c)
    c.set_defaults(func=run_classifier)

    s = cmds.add_parser("sample", help="a PNG grid (and GIF): per class simulated clips, then samples for their first "
                        "frame; prints how far the samples are from the simulations",
                        description="Simulate unseen scenarios of each class, sample the diffusion model for their "
                        "first frame and caption, and write the simulated clip and the samples as rows of a PNG grid "
                        "(and a GIF beside it); prints how far the samples are from the simulations.",
                        formatter_class=fmt,
                        epilog="example:\n  invgfx video-prior sample --weights out/prior/run/prior.safetensors "
                        "--out out/prior/samples.png --per-class 4")
    s.add_argument("--weights", required=True, help="generative prior .safetensors of `video-prior train`, or the "
                   "name of shipped weights: denoiser (`invgfx models`)")
    s.add_argument("--out", required=True, help=replaced("PNG grid (a GIF of the same rows is written beside it)"))
    s.add_argument("--samples", type=int, default=2, help="samples per scenario (default 2)")
    s.add_argument("--per-class", type=int, default=1, help="unseen scenarios per class (default 1)")
    s.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25)")
    s.add_argument("--guidance", type=float, default=1.0,
                   help="classifier-free guidance (default 1: the conditional model alone)")
    s.add_argument("--start", type=float, default=1.0,
                   help="noise level to start from, a fraction of the schedule; below 1 the first frame repeated "
                        "and noised there is the start (SDEdit; default 1: pure noise)")
    s.set_defaults(func=run_sample)


def run_data(args) -> int:
    from invgfx.dreamphysics.learned.data import generate

    from invgfx.dreamphysics.errors import DreamPhysicsError

    if args.per_class < 1 or args.implausible_per_class < 0:
        raise DreamPhysicsError(f"--per-class {args.per_class} / --implausible-per-class {args.implausible_per_class}: "
                                "make at least 1 plausible clip per class (and 0 or more implausible ones)")
    paths = generate(args.out, args.per_class, args.implausible_per_class, seed=args.seed, size=args.size, workers=args.workers,
                     resume=not args.restart)
    print(f"{len(paths)} shards in {args.out}")
    return 0


def run_train(args) -> int:
    from invgfx.dreamphysics.learned.train import TrainConfig, train

    path = train(args.clips, args.out, TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                                                   threads=args.threads), resume=not args.restart)
    print(f"wrote {path}")
    return 0


def run_classifier(args) -> int:
    from invgfx.dreamphysics.learned.classifier import ClassifierTrainConfig, train_classifier

    path = train_classifier(args.clips, args.out, ClassifierTrainConfig(steps=args.steps, seed=args.seed,
                                                                       threads=args.threads),
                            resume=not args.restart)
    print(f"wrote {path}")
    return 0


def run_sample(args) -> int:
    from invgfx.dreamphysics.learned.model import load_denoiser
    from invgfx.dreamphysics.learned.train import sample_unseen, scores_table, write_sample_grid

    from invgfx.models import resolve_weights

    model, meta = load_denoiser(resolve_weights(args.weights, "--weights", "video-prior"))
    rows, scores = sample_unseen(model, args.per_class, args.samples, args.steps, args.guidance, args.start, args.seed,
                                 progress=True)
    write_sample_grid(args.out, rows, args.samples, model.config)
    print(f"wrote {args.out}: per scenario a simulated clip (first row), then {args.samples} samples for its first "
          f"frame and caption (from noise level {args.start}); weights trained {meta.get('steps', '?')} steps")
    print(scores_table(scores))
    return 0
