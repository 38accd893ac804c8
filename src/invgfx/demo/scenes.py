"""Demo section (d) the procedural scene library: every object as a 3DGS PLY, a contact sheet and
short turntables (the content the other parts are built on)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from invgfx.demo.common import TITLES, DemoOptions, Figure, Section, rel

ABOUT = ("Every scene is procedural: nothing is downloaded. These are the Gaussian objects of invgfx.scenes "
         "(the jelly ball of part (a) among them), each written as a standard 3D Gaussian splatting PLY that "
         "3DGS viewers open, and rendered by the project's differentiable Gaussian renderer.")


@dataclass
class ScenesResult:
    """names: the objects; gaussians: Gaussians per object; files: name -> path."""

    names: list[str]
    gaussians: dict[str, int]
    size: int
    frames: int
    files: dict[str, Path] = field(default_factory=dict)

    def section(self, root: Path) -> Section:
        s = Section("scenes", TITLES["scenes"], ABOUT)
        s.numbers += [("objects", ", ".join(self.names)),
                      ("Gaussians per object", ", ".join(f"{n} {self.gaussians[n]:,}" for n in self.names)),
                      ("contact sheet", f"{self.size}x{self.size} px per object"),
                      ("turntables", f"{self.frames} frames each" if self.frames else "none")]
        s.figures.append(Figure(rel(self.files["sheet"], root), "the objects (contact sheet)"))
        for name in self.names:
            if f"{name}_gif" in self.files:
                s.figures.append(Figure(rel(self.files[f"{name}_gif"], root), f"{name} turntable"))
        for name in self.names:
            s.figures.append(Figure(rel(self.files[f"{name}_ply"], root), f"{name}.ply (3DGS)", "file"))
        return s


def run(folder: Path, opts: DemoOptions) -> ScenesResult:
    import torch
    from tqdm import tqdm

    from invgfx.scenes import SCENES, make_scene
    from invgfx.splat.camera import orbit_camera
    from invgfx.splat.framing import framing_radius
    from invgfx.splat.io_image import image_grid, write_png, write_video
    from invgfx.splat.io_ply import write_ply
    from invgfx.splat.render import render_cloud

    folder.mkdir(parents=True, exist_ok=True)
    size = 64 if opts.quick else opts.size
    frames = min(opts.frames, 2) if opts.quick else opts.frames
    turn_size = min(size, 128)
    white = torch.ones(3, device=opts.device)
    fov = math.radians(40)
    files: dict[str, Path] = {}
    stills, gaussians = [], {}
    for name in SCENES:
        obj = make_scene(name, seed=opts.seed)
        write_ply(obj.cloud, folder / f"{name}.ply")
        files[f"{name}_ply"] = folder / f"{name}.ply"
        gaussians[name] = len(obj.cloud.means)
        cloud = obj.cloud.to(opts.device)
        lo, hi = cloud.bounding_box()
        center, radius = ((lo + hi) / 2).tolist(), framing_radius(lo.cpu(), hi.cpu(), fov)

        def view(azimuth: float, px: int):
            cam = orbit_camera(azimuth, math.radians(20), radius, center, fov_y=fov, width=px, height=px).to(opts.device)
            return render_cloud(cloud, cam, background=white).rgb.cpu()

        with torch.no_grad():
            stills.append(view(-math.pi / 3, size))
            if frames:
                turn = [view(2 * math.pi * i / frames - math.pi / 3, turn_size)
                        for i in tqdm(range(frames), desc=f"{name:>6}", unit="frame")]
                write_video(folder / f"{name}_turntable.gif", torch.stack(turn), fps=12)
                files[f"{name}_gif"] = folder / f"{name}_turntable.gif"
                write_video(folder / f"{name}_turntable.mp4", torch.stack(turn), fps=12)
                files[f"{name}_mp4"] = folder / f"{name}_turntable.mp4"
    write_png(folder / "scenes.png", image_grid(stills, nrow=len(stills)))
    files["sheet"] = folder / "scenes.png"
    return ScenesResult(list(SCENES), gaussians, size, frames, files)
