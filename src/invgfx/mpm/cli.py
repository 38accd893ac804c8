"""`invgfx simulate`: a scene config + a Gaussian object -> an MP4 of its physics (+ PLY frames, summary)."""

from __future__ import annotations

import argparse

from invgfx.outputs import replaced

HELP = """Simulate a 3D Gaussian object with the material point method and render the result.

CONFIG is a scene config: a PhysGaussian / DreamPhysics JSON file used as it is (material, E,
nu, density, grid, time step, boundary_conditions, camera keys), or our native YAML/JSON with
the same content under readable names (see configs/mpm/*.yaml and docs/mpm.md).
The object is a procedural scene (--scene ball|box|plant|cable|chair) or a 3DGS .ply (--ply).

A PhysGaussian / DreamPhysics file is read as their code reads it, in their order: Gaussians
with opacity <= `opacity_threshold` are dropped, the rest rotated by `rotation_axis` /
`rotation_degree`, those inside `sim_area` (world space, after the rotations) kept, scaled so the
longest side is `scale` (default 1) and centred at (1, 1, 1), then `particle_filling` fills the
inside. The camera is theirs too: with a cameras.json beside the --ply (as 3DGS trainers write
it), `default_camera_index` >= 0 renders from that camera, otherwise the orbit keys
(init_azimuthm, ...) circle the object in world space with the first camera's lens. Only the
boundary conditions the file lists are applied (no bounding_box: particles that reach the edge
of the grid are held there and counted).
Every frame advances frame_dt / substep_dt substeps; an unstable run stops with a message
instead of writing garbage (reduce substep_dt), particles leaving the cube are held at its edge
and counted. DreamPhysics configs store E in 1e7 Pa: load them with --e-unit 1e7Pa.

Speed: the cost grows with the particles and with substeps per frame. On a CPU, simulate fewer
Gaussians: a procedural object with fewer, larger Gaussians (--scene-set n_gaussians=5000), or
any scene with --max-particles N, which simulates N of its particles and moves every other
Gaussian with its nearest simulated particle (its displacement and deformation gradient)."""

EXAMPLES = """examples:
  invgfx simulate configs/mpm/ball_jelly.json --scene ball --out out/ball.mp4
  invgfx simulate configs/mpm/plant_jelly.json --scene plant --out out/plant.mp4 --frames 30
  invgfx simulate configs/mpm/ball_jelly.yaml --ply model/point_cloud.ply --out out/ball.mp4 --ply-frames out/plys
  invgfx simulate dreamphysics/ball.json --scene ball --e-unit 1e7Pa --out out/ball.mp4
  invgfx simulate configs/mpm/plant_jelly.json --scene plant --scene-set n_gaussians=6000 --out out/plant.mp4
  invgfx simulate scene.json --ply model/point_cloud.ply --max-particles 20000 --out out/scene.mp4"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate a Gaussian object with MPM and render an MP4",
                       description=HELP, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="scene config: PhysGaussian/DreamPhysics .json or native .yaml/.json")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--scene", help="procedural object: ball, box, plant, cable or chair")
    src.add_argument("--ply", help="a 3DGS .ply file")
    p.add_argument("--out", required=True, help=replaced("output video: .mp4, .gif, or a folder for PNG frames (no suffix; lossless, the form for a reference video); a summary .json is written beside it"))
    p.add_argument("--scene-set", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the procedural --scene (see `invgfx scenes list`), e.g. n_gaussians=5000; repeatable")
    p.add_argument("--max-particles", type=int, default=None, metavar="N",
                   help="simulate at most N particles; the other Gaussians follow their nearest simulated particle")
    p.add_argument("--frames", type=int, default=None, help="number of frames (default: the config's frame_num)")
    p.add_argument("--e-unit", choices=["Pa", "1e7Pa"], default=None,
                   help="unit of E in a PhysGaussian-style config (default: the file's E_unit, else Pa)")
    p.add_argument("--ply-frames", default=None, metavar="DIR", help="also write every frame as a 3DGS PLY into DIR")
    p.add_argument("--width", type=int, default=None, help="image width in pixels (default 384)")
    p.add_argument("--height", type=int, default=None,
                   help="image height in pixels (default: 384, or the width times the capture camera's aspect)")
    p.add_argument("--fps", type=float, default=25.0, help="video frame rate (default 25)")
    p.add_argument("--background", default="1,1,1", help="background colour r,g,b in [0, 1] (default white)")
    p.set_defaults(func=run_simulate)


def run_simulate(args) -> int:
    import json
    import time
    from pathlib import Path

    import torch
    from tqdm import tqdm

    from invgfx.mpm.config import load_config
    from invgfx.mpm.errors import MPMError
    from invgfx.mpm.gaussians import prepare_particles, render_state, rendering_cloud, scene_camera, world_gaussians
    from invgfx.mpm.solver import Simulator
    from invgfx.scenes import make_scene
    from invgfx.scenes.cli import parse_settings
    from invgfx.splat.cli import load_scene, parse_vector
    from invgfx.splat.geometry import rotmat_to_quat
    from invgfx.splat.io_image import write_video
    from invgfx.splat.io_ply import write_ply
    from invgfx.splat.sh import rotate_sh

    from invgfx.splat.errors import SplatError
    from invgfx.splat.io_image import check_video_path

    out = Path(args.out)
    try:
        check_video_path(out)
    except SplatError as err:
        raise MPMError(f"--out {err}; the video is written as .mp4, .gif or, without a suffix, a folder of PNG frames "
                       "(lossless: the form for a reference video to fit)") from None
    if not out.name:
        raise MPMError(f"--out {out}: name the video (a file, or a new folder for PNG frames)")
    if out.with_suffix(".json").resolve() == Path(args.config).resolve():
        raise MPMError(f"--out {out}: its summary {out.with_suffix('.json')} would overwrite the config; "
                       "choose another name")
    if args.frames is not None and args.frames < 1:
        raise MPMError(f"--frames {args.frames}: it must be at least 1")
    cfg = load_config(args.config, e_unit=args.e_unit)
    n_frames = args.frames or cfg.frame_num
    if args.scene_set and not args.scene:
        raise MPMError("--scene-set sets parameters of a procedural --scene; it does not apply to --ply")
    settings = parse_settings(args.scene_set)
    cloud = (make_scene(args.scene, seed=args.seed, **settings).cloud if settings
             else load_scene(args.ply or args.scene, seed=args.seed))
    capture = _capture_cameras(args.ply, cfg)
    width, height = _frame_size(args, capture, cfg)
    gen = torch.Generator().manual_seed(args.seed)
    particles = prepare_particles(cloud.means, cloud.covariances(), cloud.opacities, cfg, generator=gen,
                                  max_particles=args.max_particles)
    sim = Simulator(cfg, particles.positions, particles.volumes, device=args.device)
    background = torch.tensor(parse_vector(args.background, "--background"))
    if args.ply_frames:
        Path(args.ply_frames).mkdir(parents=True, exist_ok=True)
    n_filled = int((particles.gaussian_index < 0).sum()) + (0 if particles.shown_fill is None else len(particles.shown_fill))
    if cfg.particle_filling is not None:
        print(f"particle_filling added {n_filled} particles inside the object"
              + (" (rendered, `visualize`)" if particles.shown_fill is not None else ""))

    state, frames, start = sim.initial_state(), [], time.time()
    with torch.no_grad():  # rendering for a video: no autograd graph (3x faster on CPU)
        for frame in tqdm(range(n_frames), desc="simulate", unit="frame"):
            if frame:
                state = sim.run(state, None, cfg.substeps_per_frame)
            camera = scene_camera(cfg, frame, width, height, particles.space, capture)
            frames.append(render_state(cloud, particles, state.x, state.F, camera, background))
            if args.ply_frames:
                write_ply(_cloud_with(rendering_cloud(cloud, particles), *world_gaussians(cloud, particles, state.x, state.F), rotmat_to_quat,
                                      rotate_sh),
                          Path(args.ply_frames) / f"frame_{frame:04d}.ply")
    write_video(out, torch.stack(frames), fps=args.fps)
    summary = {
        "config": str(args.config), "scene": args.ply or args.scene, "video": str(out), "frames": n_frames,
        "substeps_per_frame": cfg.substeps_per_frame, "simulated_seconds": round(state.t, 6),
        "particles": sim.n, "filled_particles": n_filled, "camera": "cameras.json" if capture else "orbit keys",
        "carried_gaussians": 0 if particles.carried is None else len(particles.carried.gaussian_index),
        "scene_settings": settings, "material": cfg.material,
        "E_Pa": cfg.E, "nu": cfg.nu, "density_kg_m3": cfg.density, "escaped_particles": sim.n_escaped,
        "wall_seconds": round(time.time() - start, 2), "ply_frames": args.ply_frames,
    }
    summary_path = out.with_suffix(".json")
    tmp = summary_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(summary_path)
    if sim.n_escaped:
        print(f"{sim.n_escaped} of {sim.n} particles reached the edge of the grid and were held there")
    print(f"wrote {out} ({n_frames} frames, {sim.n} particles, {summary['wall_seconds']} s) and {summary_path}")
    return 0


def _capture_cameras(ply, cfg):
    """The capture's cameras.json (beside the --ply or up to 3 folders above it), as PhysGaussian
    reads it from the model folder; None for procedural objects or when there is none."""
    import warnings

    from invgfx.splat.camera import load_cameras_json
    from invgfx.splat.framing import find_cameras_json

    found = find_cameras_json(ply) if ply else None
    index = cfg.camera.get("default_camera_index")
    if found is None and index is not None and index >= 0:
        warnings.warn(f"{cfg.source}: `default_camera_index` {index} picks a camera of the capture's cameras.json, "
                      "but there is none beside the PLY; the orbit keys are used instead")
    return load_cameras_json(found) if found else None


def _frame_size(args, capture, cfg) -> tuple[int, int]:
    """(width, height): the options, else 384 wide at the aspect of the capture camera in use."""
    from invgfx.mpm.errors import MPMError

    if capture:
        index = cfg.camera.get("default_camera_index")
        cam = capture[index] if index is not None and 0 <= index < len(capture) else capture[0]
        aspect = cam.height / cam.width
    else:
        aspect = 1.0
    width = args.width or (round(args.height / aspect) if args.height else 384)
    height = args.height or max(1, round(width * aspect))
    if width < 1 or height < 1:
        raise MPMError(f"--width {width} --height {height}: both must be positive")
    return width, height


def _cloud_with(cloud, means, covs, sh_rot, rotmat_to_quat, rotate_sh):
    """A GaussianCloud with deformed means and covariances (eigen-decomposed into rotation + scales)."""
    import torch

    from invgfx.splat.cloud import GaussianCloud

    evals, evecs = torch.linalg.eigh(covs)
    evecs = torch.where(torch.det(evecs)[:, None, None] < 0, evecs * torch.tensor([-1.0, 1.0, 1.0]), evecs)
    log_scales = 0.5 * evals.clamp_min(1e-20).log()
    return GaussianCloud(means, rotmat_to_quat(evecs), log_scales, cloud.opacity_logits, rotate_sh(cloud.sh, sh_rot))
