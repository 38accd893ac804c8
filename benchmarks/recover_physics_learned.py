"""Physics from the shipped learned video prior (issue 7): the prior alone, no reference video.

For the ball and the plant (their canonical scenarios, invgfx.dreamphysics.learned.demo_scene),
start E 100x below the bottom and 100x above the top of the class's plausible range and let the
shipped prior (the denoiser's SDS, text + first frame, guided by the plausibility classifier with
weight --guide-scale; the classifier alone where no denoiser is installed) move it for up to --epochs epochs (Adam in log E, lr 0.3, 2 groups x 8 frames at 32 x 32, full
BPTT). With --patience N a run stops early once E has stayed inside the range for N epochs
(default 0: all epochs run, so a drift back out of the range shows). Each run is a child process
(its own peak RSS). --weights FILE takes another learned prior: a classifier of `invgfx
video-prior classifier` (classifier guidance alone, 4 draws of t in [0.02, 0.4)), or a
generative prior of `invgfx video-prior train` (its SDS without a classifier); --starts also takes an E in Pa (e.g. 1e5, 10x
below the plant's range).

Prints one row per run: scene, range, init E, final E, inside the range at the end?, first
epoch inside, epochs run, wall time, peak RSS; and the motion statistic (the paper's
qualitative claim: too soft deforms too much, too stiff barely moves) at the initial E, the
final E and the middle of the range: the ball's peak compression, the plant's sway amplitude
(invgfx.dreamphysics.learned.motion).

--jitter SIGMA simulates each epoch at a log-normally jittered E (LearnConfig.jitter), --search N
judges N values across the bounds first (LearnConfig.search); --seed: of the noise and jitter.

--out DIR writes DIR/<scene>_<low|high>/ before_after.mp4 + .gif (initial | learned), plot.png,
log.csv, params.json.

    python benchmarks/recover_physics_learned.py [--scenes ball,plant] [--epochs 30] [--out DIR]
    python benchmarks/recover_physics_learned.py --weights out/prior/run/prior.safetensors --guidance 3
    python benchmarks/recover_physics_learned.py --scenes plant --starts low --jitter 2 --seed 1
"""

from __future__ import annotations

import argparse
import csv
import math
import multiprocessing
import multiprocessing.connection
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path


def run(scene: str, start: str, args) -> dict:
    import warnings

    import torch

    from invgfx.dreamphysics import LearnConfig, ParameterSet, learn, scalar
    from invgfx.dreamphysics.learned import default_prior, demo_scene
    from invgfx.dreamphysics.learned.motion import motion_statistic
    from invgfx.dreamphysics.learned.scenarios import CLASSES, FRAMES
    from invgfx.dreamphysics.physics import mpm_video
    from invgfx.dreamphysics.prior import Condition

    warnings.filterwarnings("ignore", category=RuntimeWarning)
    torch.set_num_threads(1)
    cls = CLASSES[scene]
    lo, hi = cls.E_range
    e0 = lo / 100 if start == "low" else hi * 100 if start == "high" else float(start)
    cloud, config = demo_scene(scene)
    simulate = mpm_video(cloud, config, width=32, height=32, grad_substeps=None)
    # bounds: the span of the implausible training clips and a little more (a stiffer E would
    # only make the simulation slower: the substep shrinks with 1 / sqrt(E))
    params = ParameterSet([scalar("E", e0, lo / 1e3, hi * 300)])
    prior = default_prior(scene, weights=args.weights, mode="both", guide_scale=args.guide_scale,
                          guidance_scale=args.guidance, t_range=args.t_range, samples=args.samples)
    out = Path(args.out) / f"{scene}_{start}" if args.out else Path(tempfile.mkdtemp())
    if out.exists():
        shutil.rmtree(out)

    class Enough(Exception):
        """E stayed inside the range for --patience epochs."""

    values: list[float] = []

    def stop_when_inside(epoch, current) -> None:
        values.append(current.summary()["E"])
        if args.patience and len(values) >= args.patience and all(cls.inside(v) for v in values[-args.patience:]):
            raise Enough

    began = time.perf_counter()
    config_learn = LearnConfig(epochs=args.epochs, groups=2, frames_per_group=FRAMES // 2, update="adam", lr=args.lr,
                               seed=args.seed, search=args.search, jitter=args.jitter)
    try:
        learn(simulate, params, prior, config_learn, condition=Condition(text=cls.captions[0]), out_dir=out,
              on_epoch=stop_when_inside, progress=False)
    except Enough:
        pass
    history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(open(out / "log.csv"))]
    seconds = time.perf_counter() - began
    final = history[-1]["E"]
    first_inside = next((int(h["epoch"]) + 1 for h in history if cls.inside(h["E"])), None)
    searched = min(csv.DictReader(open(out / "search.csv")), key=lambda r: float(r["loss"]))["E"] \
        if (out / "search.csv").exists() else None
    what, before = motion_statistic(scene, cloud, config, e0)
    _, after = motion_statistic(scene, cloud, config, final)
    _, middle = motion_statistic(scene, cloud, config, math.sqrt(lo * hi))
    if args.out:
        from invgfx.dreamphysics.report import plot_history, side_by_side
        from invgfx.splat import write_video

        frames = torch.arange(FRAMES)
        with torch.no_grad():
            first = simulate(ParameterSet([scalar("E", e0, e0, e0)]), frames)
            learned = simulate(ParameterSet([scalar("E", final, final, final)]), frames)
        pair = torch.nn.functional.interpolate(side_by_side(first, learned), scale_factor=4, mode="nearest")
        write_video(out / "before_after.mp4", pair, fps=round(1 / config.frame_dt))
        write_video(out / "before_after.gif", pair, fps=round(1 / config.frame_dt))
        plot_history(history, out / "plot.png")
    return {"scene": scene, "range": f"{lo:.0e}-{hi:.0e}", "init": e0, "searched": searched, "final": final,
            "inside": cls.inside(final),
            "first_inside": first_inside, "epochs": len(history), "seconds": seconds,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "statistic": what,
            "before": before, "after": after, "middle": middle}


def _child(queue, scene, start, args):
    try:
        queue.put(run(scene, start, args))
    except Exception as err:  # report the failure as a row, keep the other runs going
        queue.put({"scene": scene, "start": start, "error": f"{type(err).__name__}: {err}"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", default="ball,plant")
    parser.add_argument("--starts", default="low,high",
                        help="low: 100x below the range, high: 100x above, or an E in Pa (default low,high)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=0,
                        help="stop after E stayed inside the range this many epochs (default 0: never)")
    parser.add_argument("--lr", type=float, default=0.3, help="Adam step in log E")
    parser.add_argument("--guidance", type=float, default=None,
                        help="classifier-free guidance of a generative prior's SDS (its default: 3)")
    parser.add_argument("--guide-scale", type=float, default=None,
                        help="weight of the classifier's score in the shipped guided prior (default: GUIDE_SCALE)")
    parser.add_argument("--t-range", type=lambda v: tuple(float(x) for x in v.split(",")), default=None,
                        metavar="LO,HI", help="noise levels, fractions of the schedule (default: the prior's, "
                                              "0.02,0.4 classifier, 0.2,0.7 SDS)")
    parser.add_argument("--samples", type=int, default=None,
                        help="noise draws averaged per epoch (default: the prior's, 4 classifier, 2 SDS)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--search", type=int, default=0, metavar="N",
                        help="judge the start and N log-spaced E across the bounds first, start from the best "
                             "(LearnConfig.search; default 0: off); its time is in the wall time")
    parser.add_argument("--jitter", type=float, default=0.0, metavar="SIGMA",
                        help="log-normal jitter of E per epoch, annealed to 0 (LearnConfig.jitter; default 0: off)")
    parser.add_argument("--weights", default=None, help="learned prior .safetensors (default: the shipped one)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at the same time (one core each)")
    parser.add_argument("--out", default=None, help="folder for videos and plots")
    args = parser.parse_args()
    runs = [(s, st) for s in args.scenes.split(",") for st in args.starts.split(",")]
    ctx = multiprocessing.get_context("spawn")
    from invgfx.dreamphysics.learned import GUIDE_SCALE, SHIPPED, SHIPPED_DENOISER, file_kind

    if args.weights is None and SHIPPED_DENOISER.exists():
        what = f"shipped denoiser guided by the shipped classifier, weight {args.guide_scale or GUIDE_SCALE}"
    else:
        what = f"learned prior {args.weights or SHIPPED} ({file_kind(args.weights or SHIPPED)})"
    judge = (f"{what}, t range {args.t_range or 'default'}, "
             f"{args.samples or 'default'} draws" + (f", guidance {args.guidance}" if args.guidance else ""))
    print(f"# {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {judge}; "
          f"Adam lr {args.lr}; 2 x 8 frames at 32 px; full BPTT; "
          f"up to {args.epochs} epochs" + (f", stop after {args.patience} inside" if args.patience else "")
          + (f"; search of {args.search} values first" if args.search else "")
          + (f"; jitter {args.jitter}" if args.jitter else ""))
    rows, pending = [], list(runs)
    active: dict = {}  # sentinel -> (process, queue)
    while pending or active:
        while pending and len(active) < args.jobs:
            scene, start = pending.pop(0)
            q = ctx.Queue()
            p = ctx.Process(target=_child, args=(q, scene, start, args))
            p.start()
            active[p.sentinel] = (p, q)
        for sentinel in multiprocessing.connection.wait(list(active)):  # whichever run ends first
            p, q = active.pop(sentinel)
            p.join()
            rows.append(q.get() if not q.empty() else {"scene": "?", "start": "?", "error": f"exit {p.exitcode}"})
    print("| scene | plausible E (Pa) | init E | final E | inside? | first epoch inside | epochs | wall s | peak RSS MB |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['scene']} | {r['start']}: {r['error']} |")
            continue
        init = f"{r['init']:.3g}" + (f" (search: {float(r['searched']):.2g})" if r["searched"] else "")
        print(f"| {r['scene']} | {r['range']} | {init} | {r['final']:.3g} | {'yes' if r['inside'] else 'no'} | "
              f"{r['first_inside'] or '-'} | {r['epochs']} | {r['seconds']:.0f} | {r['rss_mb']:.0f} |")
    print()
    print("| scene | statistic | at init E | at learned E | at the range's middle |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        if "error" not in r:
            print(f"| {r['scene']} ({r['init']:.0e} start) | {r['statistic']} | {r['before']:.3f} | {r['after']:.3f} | "
                  f"{r['middle']:.3f} |")


if __name__ == "__main__":
    main()
