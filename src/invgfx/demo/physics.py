"""Demo section (a) physics: learn Young's modulus E of a jelly ball from a video prior.

The ball is simulated with the differentiable MPM (invgfx.mpm), rendered with the Gaussian
renderer, judged by a video prior, and E is stepped in the log domain (invgfx.dreamphysics.loop),
back-propagating through every substep (full BPTT). It starts 20x too soft.

The prior: the shipped learned video prior, `invgfx.dreamphysics.learned.default_prior("ball")`
(SDS of the video diffusion model trained on procedural clips, guided by the plausibility
classifier) with its scene
`demo_scene("ball")`. Where it cannot be loaded (an installation without its weights), a
reference-video prior: a ground-truth video rendered at a known E, and the page says so in words.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from invgfx.demo.common import TITLES, DemoOptions, Figure, Section, fmt, rel

PROMPT = "a jelly ball bouncing on the floor"
TRUE_E = 2e4  # Pa: the reference video's E (fallback prior)
INIT_FACTOR = 1 / 20  # the run starts at this fraction of the scene's E: visibly too soft
BOUNDS = (1e2, 1e8)  # Pa, the learned E stays within
GROUPS = 2
FRAMES_PER_GROUP = 8
LEARNED_SIZE = 32  # px: the learned prior judges 32 x 32 videos of 2 x 8 frames, as it was trained
SCALE = 3  # the videos and the film strip are upscaled this many times (nearest) for viewing

# configs/dreamphysics/ball.json (a 1 m jelly ball dropped 0.3 m onto the floor, 24^3 grid) at the E of
# configs/mpm/ball_jelly.json, with a longer largest substep (the substep follows E, invgfx.mpm.stable_substep) and a
# closer camera aimed 0.1 m higher.
REFERENCE_SCENE = {
    "material": "jelly", "E": TRUE_E, "nu": 0.4, "density": 100, "g": [0.0, 0.0, -9.8], "grid_lim": 2.0,
    "n_grid": 24, "substep_dt": 2e-3, "frame_dt": 0.04, "frame_num": 16, "opacity_threshold": 0.02,
    "rotation_degree": [], "rotation_axis": [], "grid_v_damping_scale": 0.9999, "rpic_damping": 0.0,
    "boundary_conditions": [{"type": "bounding_box"}], "mpm_space_viewpoint_center": [1.0, 1.0, 0.85],
    "mpm_space_vertical_upward_axis": [0, 0, 1], "default_camera_index": -1, "init_azimuthm": 165.0,
    "init_elevation": 10.0, "init_radius": 2.1, "move_camera": False, "delta_a": 0.0, "delta_e": 0.0, "delta_r": 0.0,
}

ABOUT = ("DreamPhysics: a 3D Gaussian jelly ball is simulated with a differentiable material point method, "
         "rendered with differentiable Gaussian splatting and judged by a video prior; the prior's gradient "
         "flows back through the renderer and every simulation substep into Young's modulus E, which is "
         "stepped in the log domain (Adam). The run starts 20x too soft: the ball squashes flat.")
LEARNED_NOTE = ("The prior is the learned one shipped with invgfx, trained on procedural MPM clips of jelly balls "
                "(and four other objects), plausible ones with E in the range below and implausible ones 3x to 300x "
                "outside it: the score distillation (SDS) of a small video diffusion model conditioned on the caption "
                "and each frame group's first frame, guided by a plausibility classifier on noised frames (classifier "
                "guidance). No target video or target E is given to it.")


@dataclass
class PhysicsResult:
    """initial_E, learned_E, target_E (Pa; target only for the reference prior); prior: its name;
    fallback: why the learned prior was not used (None when it was); history: one dict per epoch
    (epoch, group, loss, seconds, E); files: name -> path; plausible: the learned prior's training
    range of E for the ball (Pa), when known."""

    initial_E: float
    learned_E: float
    target_E: float | None
    prior: str
    fallback: str | None
    history: list[dict]
    size: int
    frames: int
    n_gaussians: int
    files: dict[str, Path] = field(default_factory=dict)
    plausible: tuple[float, float] | None = None

    def section(self, root: Path) -> Section:
        s = Section("physics", TITLES["physics"], ABOUT)
        if self.fallback or self.plausible is not None:
            s.notes.append(self.fallback or LEARNED_NOTE)
        s.numbers += [("video prior", self.prior), ("initial E (Pa)", fmt(self.initial_E)),
                      ("learned E (Pa)", fmt(self.learned_E))]
        if self.plausible is not None:
            s.numbers.append(("E range of the balls the prior was trained on (Pa)",
                              f"{fmt(self.plausible[0])} - {fmt(self.plausible[1])}"))
        if self.target_E is not None:
            s.numbers += [("target E of the reference video (Pa)", fmt(self.target_E)),
                          ("relative error of E, initial -> learned",
                           f"{abs(self.initial_E / self.target_E - 1):.0%} -> {abs(self.learned_E / self.target_E - 1):.0%}")]
        losses = [h["loss"] for h in self.history]
        s.numbers += [("epochs", str(len(self.history))), ("loss, first -> last epoch", f"{fmt(losses[0])} -> {fmt(losses[-1])}"),
                      ("seconds per epoch (mean)", f"{sum(h['seconds'] for h in self.history) / len(self.history):.1f}"),
                      ("simulation", f"{self.n_gaussians} Gaussians, {self.frames} frames, {self.size}x{self.size} px, "
                                     f"{GROUPS} groups, full BPTT")]
        captions = {
            "before_after_gif": ("before (initial E, left) and after learning (learned E, right)", "image"),
            "strip": ("every second frame: rows initial E, learned E" + (", target" if self.target_E else ""), "image"),
            "plot": ("E (log axis) and the prior's loss against epoch", "image"),
            "before_after_mp4": ("the same as MP4", "video"),
            "truth_gif": ("the reference video (target E)", "image"),
            "log": ("log.csv: loss and E per epoch", "file"),
        }
        for key, (caption, kind) in captions.items():
            if key in self.files:
                s.figures.append(Figure(rel(self.files[key], root), caption, kind))
        return s


def reference_scene(n_gaussians: int = 300, seed: int = 0):
    """(cloud, SceneConfig) of the fallback scene: the procedural ball under REFERENCE_SCENE."""
    from invgfx.mpm.config import from_physgaussian
    from invgfx.scenes import make_scene

    cfg = from_physgaussian(dict(REFERENCE_SCENE), source="invgfx.demo.physics.REFERENCE_SCENE")
    return make_scene("ball", seed=seed, n_gaussians=n_gaussians).cloud, cfg


def learned_prior():
    """(prior, (cloud, SceneConfig), None) from invgfx.dreamphysics.learned (`default_prior()` and
    `demo_scene("ball")`), or (None, None, why) when its prior cannot be loaded (no weights shipped)."""
    from invgfx import InvgfxError
    from invgfx.dreamphysics.learned import default_prior, demo_scene

    try:
        return default_prior("ball"), demo_scene("ball"), None
    except InvgfxError as err:  # e.g. no weights file: say so on the page, use the reference video
        return None, None, f"{type(err).__name__}: {err}"


def plausible_range(name: str = "ball") -> tuple[float, float]:
    """(lo, hi) Pa: the E range the learned prior's training clips of `name` were drawn from."""
    from invgfx.dreamphysics.learned.scenarios import object_class

    lo, hi = object_class(name).E_range
    return float(lo), float(hi)


def upscale(video, k: int = SCALE):
    """(..., H, W) -> (..., k H, k W), nearest."""
    return video.repeat_interleave(k, -2).repeat_interleave(k, -1)


def run(folder: Path, opts: DemoOptions, prior=None, scene=None, target_E: float | None = None,
        initial_E: float | None = None, size: int | None = None) -> PhysicsResult:
    """Learn E of the ball and write the videos, plot and log into `folder`.

    prior (a VideoPrior) and scene ((cloud, SceneConfig)) override the choice above; target_E
    (Pa), where known, is shown beside the result. initial_E defaults to the scene's E / 20.
    size: video pixels (default: LEARNED_SIZE for a given or learned prior, which judges videos
    as it was trained on them; 40, --quick 32, for the reference video). Videos are always 2
    groups x 8 frames."""
    import torch
    from tqdm import tqdm

    from invgfx.atomic import write_atomic
    from invgfx.dreamphysics.loop import LearnConfig, learn
    from invgfx.dreamphysics.params import ParameterSet, scalar
    from invgfx.dreamphysics.physics import mpm_video
    from invgfx.dreamphysics.prior import Condition
    from invgfx.dreamphysics.reference import ReferenceVideoPrior
    from invgfx.dreamphysics.report import plot_history, side_by_side
    from invgfx.splat import image_grid, write_png, write_video

    folder.mkdir(parents=True, exist_ok=True)
    quick = opts.quick
    fpg = FRAMES_PER_GROUP
    epochs = opts.epochs or (2 if quick else 12)
    n_frames = GROUPS * fpg
    all_frames = torch.arange(n_frames)
    fallback = None
    given = prior  # a prior passed in: no claims about its training range
    if prior is None and scene is None:
        prior, scene, why = learned_prior()
        if prior is None:
            fallback = (f"The shipped learned video prior (invgfx.dreamphysics.learned) is not available in this "
                        f"installation ({why}). This run uses a reference-video prior instead: the target is a "
                        f"video of the same ball simulated at E = {fmt(target_E or TRUE_E)} Pa, and the loss is "
                        "L2 + (1 - SSIM) to it. It shows the machinery (simulation, rendering, gradients through "
                        "both, log-domain steps), not what a video model believes about jelly.")
    if scene is None:
        scene = reference_scene(seed=opts.seed)
    plausible = plausible_range("ball") if prior is not None and given is None else None
    size = size or (LEARNED_SIZE if prior is not None else 32 if quick else 40)
    cloud, cfg = scene
    simulate = mpm_video(cloud, cfg, width=size, height=size, grad_substeps=None, device=opts.device, seed=opts.seed)
    init = initial_E if initial_E is not None else cfg.E * INIT_FACTOR

    def params_at(E: float) -> ParameterSet:
        return ParameterSet([scalar("E", E, *BOUNDS)])

    files: dict[str, Path] = {}
    truth = None
    if prior is None:  # the reference-video fallback
        target_E = TRUE_E if target_E is None else target_E
        with torch.no_grad():
            truth = simulate(params_at(target_E), all_frames)
        write_video(folder / "target.gif", upscale(truth), fps=10)
        files["truth_gif"] = folder / "target.gif"
        prior = ReferenceVideoPrior(truth)
    params = params_at(init)
    condition = Condition(text=PROMPT)  # an image-conditioned prior takes each frame group's own first frame
    config = LearnConfig(epochs=epochs, groups=GROUPS, frames_per_group=fpg, update="adam", lr=0.5, seed=opts.seed)
    history = learn(simulate, params, prior, config, condition=condition, progress=True)
    learned = float(params["E"].value.detach()[0])

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_atomic(folder / "log.csv", text.getvalue().encode())
    files["log"] = folder / "log.csv"
    write_atomic(folder / "params.json", json.dumps({"initial_E": init, "learned_E": learned, "target_E": target_E},
                                                    indent=1).encode())
    plot_history(history, folder / "plot.png")
    files["plot"] = folder / "plot.png"
    with torch.no_grad():
        videos = [simulate(params_at(E), all_frames) for E in tqdm([init, learned], desc="before/after", unit="video")]
    both = upscale(side_by_side(*videos))
    write_video(folder / "before_after.gif", both, fps=10)
    files["before_after_gif"] = folder / "before_after.gif"
    write_video(folder / "before_after.mp4", both, fps=10)
    files["before_after_mp4"] = folder / "before_after.mp4"
    rows = videos + ([truth] if truth is not None else [])
    strip = image_grid([f for v in rows for f in v[::2]], nrow=(n_frames + 1) // 2)
    write_png(folder / "filmstrip.png", upscale(strip, 2))
    files["strip"] = folder / "filmstrip.png"
    name = type(prior).__name__ + (" (reference video, fallback)" if fallback else "")
    return PhysicsResult(init, learned, target_E, name, fallback, history, size, n_frames, len(cloud.means), files,
                         plausible)

