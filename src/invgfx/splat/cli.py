"""`invgfx render`: a PLY (or a procedural object) to a PNG, an orbit MP4/GIF, or a frame folder."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

HELP = """Render 3D Gaussians to an image or a video.

SCENE is a 3DGS .ply file (e.g. point_cloud/iteration_30000/point_cloud.ply from any 3DGS
trainer), a plain point-cloud .ply, or the name of a procedural object (ball, box, plant,
cable, chair). The output type follows --out: .png renders one view; .mp4 or .gif renders a
video (an orbit with --orbit, else the still view for --frames frames).

Without camera options the camera frames the whole object: it looks at the centre of the
scene from --azimuth/--elevation degrees at a distance that fits it in view. For a real
capture, the 'up' direction is read from the cameras.json that 3DGS trainers write next to
the model (or give --up x,y,z); --camera-index N renders from that training camera instead."""

EXAMPLES = """examples:
  invgfx render plant --out plant.png
  invgfx render plant --out plant.mp4 --orbit --frames 90
  invgfx render model/point_cloud/iteration_30000/point_cloud.ply --out view.png --width 800 --height 600
  invgfx render model/point_cloud/iteration_30000/point_cloud.ply --out cam3.png --camera-index 3
  invgfx render scene.ply --out turn.gif --orbit --elevation 30 --background 1,1,1"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a Gaussian PLY or procedural object to PNG / MP4 / GIF",
                       description=HELP, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scene", help="a .ply file or a procedural object name")
    p.add_argument("--out", required=True, help="output .png, .mp4 or .gif")
    p.add_argument("--orbit", action="store_true", help="circle the object once over the video")
    p.add_argument("--frames", type=int, default=60, help="video length in frames (default 60)")
    p.add_argument("--fps", type=float, default=30.0, help="video frame rate (default 30)")
    p.add_argument("--width", type=int, default=512, help="image width in pixels (default 512)")
    p.add_argument("--height", type=int, default=512, help="image height in pixels (default 512)")
    p.add_argument("--fov", type=float, default=40.0, help="vertical field of view in degrees (default 40)")
    p.add_argument("--azimuth", type=float, default=-60.0, help="camera azimuth about 'up' in degrees (default -60)")
    p.add_argument("--elevation", type=float, default=20.0, help="camera elevation in degrees (default 20)")
    p.add_argument("--radius", type=float, default=None, help="camera distance in scene units (default: fit the scene)")
    p.add_argument("--up", default=None, help="world up as x,y,z (default: from cameras.json, else 0,0,1)")
    p.add_argument("--cameras", default=None, help="a 3DGS cameras.json (default: found next to the PLY)")
    p.add_argument("--camera-index", type=int, default=None, help="render from this camera of cameras.json")
    p.add_argument("--background", default="0,0,0", help="background colour r,g,b in [0, 1] (default 0,0,0)")
    p.add_argument("--backend", default="torch", choices=["torch", "gsplat"], help="renderer backend (gsplat: CUDA only)")
    p.set_defaults(func=run_render)


def parse_vector(text: str, name: str, length: int = 3) -> list[float]:
    from invgfx.splat.errors import SplatError

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != length:
        raise SplatError(f"{name} {text!r}: expected {length} comma-separated numbers, e.g. {','.join(['0'] * length)}")
    return values


def load_scene(scene: str, seed: int = 0):
    """A GaussianCloud from a .ply path or a procedural object name."""
    from invgfx.scenes import SCENES, make_scene
    from invgfx.splat.errors import SplatError
    from invgfx.splat.io_ply import read_ply

    if Path(scene).suffix.lower() == ".ply" or Path(scene).exists():
        return read_ply(scene)
    if scene in SCENES:
        return make_scene(scene, seed=seed).cloud
    raise SplatError(f"{scene}: no such file, and not a procedural object ({', '.join(SCENES)})")


def run_render(args) -> int:
    import torch
    from tqdm import tqdm

    from invgfx.splat.camera import load_cameras_json, orbit_camera
    from invgfx.splat.errors import SplatError
    from invgfx.splat.framing import find_cameras_json, framing_radius, robust_bounds, up_from_cameras
    from invgfx.splat.io_image import write_png, write_video
    from invgfx.splat.render import render_cloud

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".mp4", ".gif"):
        raise SplatError(f"--out {out}: use a .png, .mp4 or .gif file name")
    if args.frames < 1 or args.width < 1 or args.height < 1:
        raise SplatError("--frames, --width and --height must be positive")
    cloud = load_scene(args.scene, args.seed).to(args.device)
    background = torch.tensor(parse_vector(args.background, "--background"), device=args.device)

    cameras_path = args.cameras or (find_cameras_json(args.scene) if Path(args.scene).exists() else None)
    capture = load_cameras_json(cameras_path) if cameras_path else None
    if args.camera_index is not None:
        if capture is None:
            raise SplatError("--camera-index needs a cameras.json (give --cameras PATH)")
        if not 0 <= args.camera_index < len(capture):
            raise SplatError(f"--camera-index {args.camera_index}: {cameras_path} has cameras 0..{len(capture) - 1}")
        cam = capture[args.camera_index].resized(args.width, args.height)
        cameras = [cam] * (args.frames if out.suffix.lower() != ".png" else 1)
    else:
        up = parse_vector(args.up, "--up") if args.up else (up_from_cameras(capture).tolist() if capture else [0.0, 0.0, 1.0])
        lo, hi = robust_bounds(cloud.means.detach().cpu())
        center = ((lo + hi) / 2).tolist()
        fov = math.radians(args.fov)
        radius = args.radius or framing_radius(lo, hi, fov)
        n = 1 if out.suffix.lower() == ".png" else args.frames
        step = 2 * math.pi / n if args.orbit else 0.0
        cameras = [orbit_camera(math.radians(args.azimuth) + i * step, math.radians(args.elevation), radius, center, up,
                                fov, args.width, args.height) for i in range(n)]
    frames = []
    with torch.no_grad():
        for cam in tqdm(cameras, desc="render", unit="frame", disable=len(cameras) == 1):
            frames.append(render_cloud(cloud, cam.to(args.device), background=background, backend=args.backend).rgb.cpu())
    if out.suffix.lower() == ".png":
        write_png(out, frames[0])
    else:
        write_video(out, torch.stack(frames), fps=args.fps)
    print(f"wrote {out} ({len(frames)} frame{'s' if len(frames) > 1 else ''}, {args.width}x{args.height}, {len(cloud)} Gaussians)")
    return 0
