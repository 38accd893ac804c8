"""A video prior learned from procedural simulations, shipped with the package.

The published priors (ModelScope, Stable Video Diffusion) need billions of parameters and a GPU.
This one is trained on our own simulations (`scenarios`: a jelly ball, a jelly cube, a soft
chair, a plant, a rope, each with physical parameters drawn from a documented plausible range),
so SDS runs offline on a CPU:

    from invgfx.dreamphysics.learned import default_prior, demo_scene
    prior = default_prior("both")                   # LearnedVideoPrior over the shipped weights
    cloud, config = demo_scene("ball")              # the canonical jelly-ball drop it knows

Pieces: `scenarios` (what is simulated, with the ranges and their reasons), `data` (clips,
multi-process, resumable), `model` (diffusers UNet3DConditionModel + tiny CLIP text encoder,
SDS prior), `train` (DDPM training, EMA, resume, DDIM sampling). Model card: weights/README.md.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS = Path(__file__).parent / "weights" / "prior.safetensors"


def default_prior(mode: str = "both", weights: str | Path | None = None, **kwargs):
    """`LearnedVideoPrior` over the shipped weights (or `weights`); mode 'text', 'image' or 'both';
    kwargs go to LearnedVideoPrior (guidance_scale, t_range, scale, samples)."""
    from invgfx.dreamphysics.errors import DreamPhysicsError
    from invgfx.dreamphysics.learned.model import LearnedVideoPrior, load_denoiser

    if weights is None and not WEIGHTS.exists():
        raise DreamPhysicsError(
            f"this invgfx has no shipped learned video prior yet ({WEIGHTS} is missing): train one with "
            "`invgfx video-prior data --out clips` and `invgfx video-prior train --clips clips --out run`, then pass "
            "--model run/prior.safetensors; or use --prior reference:VIDEO, or --model DIR with ModelScope / SVD weights")
    model, _ = load_denoiser(weights or WEIGHTS)
    return LearnedVideoPrior(model, mode=mode, **kwargs)


def demo_scene(name: str = "ball", E: float | None = None):
    """(GaussianCloud, SceneConfig) of the canonical scenario of class `name` (E: its plausible
    range's geometric mean unless given); what the demo and the recovery benchmark simulate."""
    import math

    from invgfx.dreamphysics.learned.scenarios import object_class, scenario

    lo, hi = object_class(name).E_range
    sc = scenario(name, 0, E=E if E is not None else math.sqrt(lo * hi), canonical=True)
    return sc.cloud, sc.config
