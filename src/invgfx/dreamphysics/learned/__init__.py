"""A video prior learned from procedural simulations, shipped with the package.

The published priors (ModelScope, Stable Video Diffusion) need billions of parameters and a GPU.
This one is trained on our own simulations (`scenarios`: a jelly ball, a jelly cube, a soft
chair, a plant, a rope, each with physical parameters drawn from a documented plausible range),
so the paper's loop runs offline on a CPU:

    from invgfx.dreamphysics.learned import default_prior, demo_scene
    prior = default_prior("ball")                   # the shipped guided diffusion prior
    cloud, config = demo_scene("ball")              # the canonical jelly-ball drop it knows

What ships (weights/, model card weights/README.md) is a guided video diffusion prior: the
generative denoiser (`model`: diffusers UNet3DConditionModel + a tiny CLIP text encoder,
v-prediction; its samples look like the clips) gives SDS, and the plausibility classifier on
noised clips (`classifier`) guides it with its score of "this motion is plausible for this
object": the denoiser alone does not judge stiffness (docs/video-prior.md). Either file alone
is taken by `default_prior(weights=...)`.

Pieces: `scenarios` (what is simulated, with the ranges and their reasons), `data` (clips,
multi-process, resumable), `classifier` (the guide), `model` and `train` (the generative prior:
DDPM training, EMA, resume, DDIM sampling, sample scores).
"""

from __future__ import annotations

from pathlib import Path

from invgfx.models import shipped_path

SHIPPED = shipped_path("classifier")
SHIPPED_DENOISER = shipped_path("denoiser")
# weight of the classifier's score against the denoiser's in the shipped guided prior: the
# denoiser's SDS alone lowers the ball's E at every E and raises the plant's above its range;
# measured (docs/video-prior.md), 100 left the plant 22 % above its range, 300 at its middle
GUIDE_SCALE = 300.0


def class_of_prompt(prompt: str) -> str:
    """The object class a prompt names ("a jelly ball bouncing" -> "ball"), by its classes' words
    (singular or plural)."""
    from invgfx.dreamphysics.errors import DreamPhysicsError
    from invgfx.dreamphysics.learned.scenarios import CLASSES

    words = set(prompt.lower().replace(",", " ").replace(".", " ").split())
    found = [c.name for c in CLASSES.values() if words & {w for n in c.words for w in (n, n + "s")}]
    if len(found) != 1:
        raise DreamPhysicsError(
            f"prompt {prompt!r}: the learned prior judges one object class and this prompt names "
            f"{'none' if not found else ' and '.join(found)}; name one of " +
            "; ".join(f"{c.name} ({', '.join(c.words)})" for c in CLASSES.values())
            + ", or use --prior plausible:CLASS")
    return found[0]


def file_kind(path: str | Path) -> str:
    """'classifier' or 'denoiser': which learned-prior model a .safetensors file holds."""
    from invgfx.dreamphysics.learned.model import read_model_file

    config, _, _ = read_model_file(path, "learned-prior",
                                   "`invgfx video-prior classifier` or `invgfx video-prior train`")
    return "classifier" if "t_max" in config else "denoiser"


def default_prior(object_class: str = "ball", weights: str | Path | None = None, mode: str = "both",
                  guide_scale: float | None = None, **kwargs):
    """The learned prior in `weights`. Default (None): the shipped guided diffusion prior, the
    shipped denoiser's SDS (LearnedVideoPrior in `mode` 'text', 'image' or 'both') guided by the
    shipped plausibility classifier for `object_class` with weight `guide_scale` (default
    GUIDE_SCALE); the classifier alone where no denoiser is installed. A classifier file gives
    classifier guidance alone (ClassifierPrior; kwargs t_range, samples); a denoiser file its SDS
    without a classifier (kwargs guidance_scale, t_range, scale, samples)."""
    from invgfx.dreamphysics.errors import DreamPhysicsError
    from invgfx.dreamphysics.learned.classifier import ClassifierPrior, load_classifier
    from invgfx.dreamphysics.learned.model import LearnedVideoPrior, load_denoiser

    if weights is None and not SHIPPED.exists():
        raise DreamPhysicsError(
            f"this invgfx has no shipped learned video prior ({SHIPPED} is missing): make one with "
            "`invgfx video-prior data --out clips` and `invgfx video-prior classifier --clips clips --out clf`, then pass "
            "--model clf/classifier.safetensors; or use --prior reference:VIDEO, or --model DIR with ModelScope / SVD weights")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}  # None: the prior's own default
    if weights is None and SHIPPED_DENOISER.exists():
        guide = ClassifierPrior(load_classifier(SHIPPED)[0], object_class)
        return LearnedVideoPrior(load_denoiser(SHIPPED_DENOISER)[0], mode=mode, guide=guide,
                                 guide_scale=GUIDE_SCALE if guide_scale is None else guide_scale, **kwargs)
    if guide_scale is not None:
        raise DreamPhysicsError(f"--guide-scale weighs the shipped denoiser's classifier; {weights or SHIPPED} is one model "
                                "alone: drop --guide-scale, or --model for the shipped guided prior")
    weights = weights or SHIPPED
    if file_kind(weights) == "denoiser":
        return LearnedVideoPrior(load_denoiser(weights)[0], mode=mode, **kwargs)
    if "guidance_scale" in kwargs:
        raise DreamPhysicsError(f"{weights}: a plausibility classifier has no classifier-free guidance scale; drop "
                                "--guidance (it is for the generative prior's SDS)")
    return ClassifierPrior(load_classifier(weights)[0], object_class, **kwargs)


def demo_scene(name: str = "ball", E: float | None = None):
    """(GaussianCloud, SceneConfig) of the canonical scenario of class `name` (E: its plausible
    range's geometric mean unless given); what the demo and the recovery benchmark simulate."""
    import math

    from invgfx.dreamphysics.learned.scenarios import object_class, scenario

    lo, hi = object_class(name).E_range
    sc = scenario(name, 0, E=E if E is not None else math.sqrt(lo * hi), canonical=True)
    return sc.cloud, sc.config
