"""`invgfx render`: a PLY (or a procedural object) to a PNG, an orbit MP4/GIF, or a frame folder."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from invgfx.outputs import replaced

HELP = """Render 3D Gaussians to an image or a video.

SCENE is a 3DGS .ply file (e.g. point_cloud/iteration_30000/point_cloud.ply from any 3DGS
trainer), a plain point-cloud .ply, or the name of a procedural object (ball, box, plant,
cable, chair). The output type follows --out: .png renders one view; .mp4 or .gif renders a
video (an orbit with --orbit, else the still view for --frames frames).

Without camera options the camera frames the bulk of the Gaussians: it looks at their median
from --azimuth/--elevation degrees at a distance that fits 90 % of them in view, so floaters
and far background do not push it away. 'up' (--up auto) comes from the cameras.json that 3DGS
trainers write next to the model; without one, from the data (flat Gaussians lie on surfaces
and the dominant ones, floors and tables, face up; the sign from where the floor is, else the
nearer of +z and COLMAP's -y); procedural objects are z-up. Give --up -y (or +z, or x,y,z) to
choose. --camera-index N renders from that training camera at its own aspect ratio."""

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
    p.add_argument("--out", required=True, help=replaced("output .png, .mp4 or .gif"))
    p.add_argument("--orbit", action="store_true", help="circle the object once over the video")
    p.add_argument("--frames", type=int, default=60, help="video length in frames (default 60)")
    p.add_argument("--fps", type=float, default=30.0, help="video frame rate (default 30)")
    p.add_argument("--width", type=int, default=None,
                   help="image width in pixels (default 512; with --camera-index: the camera's own)")
    p.add_argument("--height", type=int, default=None,
                   help="image height in pixels (default 512; with --camera-index: the width times its aspect)")
    p.add_argument("--fov", type=float, default=40.0, help="vertical field of view in degrees (default 40)")
    p.add_argument("--azimuth", type=float, default=-60.0, help="camera azimuth about 'up' in degrees (default -60)")
    p.add_argument("--elevation", type=float, default=20.0, help="camera elevation in degrees (default 20)")
    p.add_argument("--radius", type=float, default=None, help="camera distance in scene units (default: fit the scene)")
    p.add_argument("--up", default="auto",
                   help="world up: auto (cameras.json, else from the data), +x -x +y -y +z -z, or x,y,z")
    p.add_argument("--cameras", default=None, help="a 3DGS cameras.json (default: found next to the PLY)")
    p.add_argument("--camera-index", type=int, default=None, help="render from this camera of cameras.json")
    p.add_argument("--background", default="0,0,0", help="background colour r,g,b in [0, 1] (default 0,0,0)")
    p.add_argument("--backend", default=None, choices=["numba", "torch", "gsplat"],
                   help="renderer backend (default: numba's compiled kernels on the CPU, torch on other devices; "
                        "gsplat: CUDA only)")
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
    from invgfx.splat.framing import bulk_distance, bulk_sphere, find_cameras_json
    from invgfx.splat.io_image import write_png, write_video
    from invgfx.splat.render import render_cloud

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".mp4", ".gif"):
        raise SplatError(f"--out {out}: use a .png, .mp4 or .gif file name")
    if args.frames < 1 or (args.width is not None and args.width < 1) or (args.height is not None and args.height < 1):
        raise SplatError("--frames, --width and --height must be positive")
    if not 0 < args.fov < 180:
        raise SplatError(f"--fov {args.fov}: a vertical field of view in degrees, between 0 and 180 (default 40)")
    cloud = load_scene(args.scene, args.seed).to(args.device)
    background = torch.tensor(parse_vector(args.background, "--background"), device=args.device)

    cameras_path = args.cameras or (find_cameras_json(args.scene) if Path(args.scene).exists() else None)
    capture = load_cameras_json(cameras_path) if cameras_path else None
    n = 1 if out.suffix.lower() == ".png" else args.frames
    if args.camera_index is not None:
        if capture is None:
            raise SplatError("--camera-index needs a cameras.json (give --cameras PATH)")
        if not 0 <= args.camera_index < len(capture):
            raise SplatError(f"--camera-index {args.camera_index}: {cameras_path} has cameras 0..{len(capture) - 1}")
        own = capture[args.camera_index]
        width, height = _keep_aspect(args.width, args.height, own.width, own.height)
        cameras = [own.resized(width, height)] * n
    else:
        width, height = args.width or 512, args.height or 512
        up = _up(args.up, cloud, capture, Path(args.scene).exists())
        center, bulk = bulk_sphere(cloud.means.detach().cpu())
        fov = math.radians(args.fov)
        radius = args.radius or bulk_distance(bulk, fov)
        step = 2 * math.pi / n if args.orbit else 0.0
        cameras = [orbit_camera(math.radians(args.azimuth) + i * step, math.radians(args.elevation), radius,
                                center.tolist(), up, fov, width, height) for i in range(n)]
    frames = []
    with torch.no_grad():
        for cam in tqdm(cameras, desc="render", unit="frame", disable=len(cameras) == 1):
            frames.append(render_cloud(cloud, cam.to(args.device), background=background, backend=args.backend).rgb.cpu())
    if out.suffix.lower() == ".png":
        write_png(out, frames[0])
    else:
        write_video(out, torch.stack(frames), fps=args.fps)
    print(f"wrote {out} ({len(frames)} frame{'s' if len(frames) > 1 else ''}, {width}x{height}, {len(cloud)} Gaussians)")
    return 0


def _keep_aspect(width: int | None, height: int | None, own_width: int, own_height: int) -> tuple[int, int]:
    """A training camera's image size: its own, or the given width (or height) at its aspect;
    a width and height of another aspect are refused rather than stretched."""
    from invgfx.splat.errors import SplatError

    if width is None and height is None:
        return own_width, own_height
    if width is not None and height is not None:
        if abs(width / height - own_width / own_height) > 0.01 * own_width / own_height:
            raise SplatError(f"--width {width} --height {height}: the camera is {own_width}x{own_height}, another aspect "
                             f"ratio, which would stretch the image; give only --width (or only --height)")
        return width, height
    if width is not None:
        return width, max(1, round(width * own_height / own_width))
    return max(1, round(height * own_width / own_height)), height


def _up(text: str, cloud, capture, is_file: bool) -> list[float]:
    """The world up for --up: auto (the capture's cameras, else the data for a file, +z for a
    procedural object), an axis name like -y, or x,y,z."""
    from invgfx.splat.errors import SplatError
    from invgfx.splat.framing import AXES, up_from_cameras, up_from_data

    if text in AXES:
        return [float(v) for v in AXES[text]]
    if text != "auto":
        up = parse_vector(text, "--up")
        if not any(up):
            raise SplatError(f"--up {text}: the zero vector has no direction; e.g. --up 0,0,1 or --up -y")
        return up
    if capture:
        return up_from_cameras(capture).tolist()
    if not is_file:
        return [0.0, 0.0, 1.0]
    up, how = up_from_data(cloud)
    print(f"up: {', '.join(f'{v:+.2f}' for v in up.tolist())} ({how}; --up chooses another)")
    return up.tolist()
