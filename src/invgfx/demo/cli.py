"""`invgfx demo`: what `make demo` runs on a fresh machine (no network, CPU is enough)."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the main demo on built-in procedural content",
        description="Generate the procedural scene library, write each object as a 3DGS PLY, render a "
                    "contact sheet (PNG) and a turntable video (MP4) of every object.",
        epilog="example:\n  invgfx demo --out demo_out --size 256", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--size", type=int, default=256, help="image size in pixels (default 256)")
    p.add_argument("--frames", type=int, default=48, help="frames per turntable video (default 48)")
    p.set_defaults(func=run_demo)


def run_demo(args) -> int:
    import torch
    from tqdm import tqdm

    from invgfx.scenes import SCENES, make_scene
    from invgfx.splat.camera import orbit_camera
    from invgfx.splat.framing import framing_radius
    from invgfx.splat.io_image import image_grid, write_png, write_video
    from invgfx.splat.io_ply import write_ply
    from invgfx.splat.render import render_cloud

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    white = torch.ones(3, device=args.device)
    fov = math.radians(40)
    stills, start = [], time.perf_counter()
    for name in SCENES:
        obj = make_scene(name, seed=args.seed)
        write_ply(obj.cloud, out / f"{name}.ply")
        cloud = obj.cloud.to(args.device)
        lo, hi = cloud.bounding_box()
        center, radius = ((lo + hi) / 2).tolist(), framing_radius(lo.cpu(), hi.cpu(), fov)
        frames = []
        with torch.no_grad():
            for i in tqdm(range(args.frames), desc=f"{name:>6}", unit="frame"):
                cam = orbit_camera(2 * math.pi * i / args.frames - math.pi / 3, math.radians(20), radius, center,
                                   fov_y=fov, width=args.size, height=args.size).to(args.device)
                frames.append(render_cloud(cloud, cam, background=white).rgb.cpu())
        write_video(out / f"{name}_turntable.mp4", torch.stack(frames), fps=24)
        stills.append(frames[0])
    write_png(out / "scenes.png", image_grid(stills, nrow=len(stills)))
    print(f"wrote {out}/scenes.png, {len(SCENES)} PLY files and turntable MP4s in {time.perf_counter() - start:.0f} s")
    return 0
