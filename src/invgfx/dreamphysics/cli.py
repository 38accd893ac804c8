"""`invgfx learn-physics`: learn E (nu, density) of a Gaussian object from a video prior."""

from __future__ import annotations

import argparse
import sys

from invgfx.outputs import add_restart, resumed

HELP = """Learn physical parameters of a Gaussian object (DreamPhysics): simulate it with MPM
(invgfx simulate's scene config), render groups of frames, judge them with a video prior and
step the parameters in the log domain.

Priors (--prior):
  text:PROMPT         without --model: the shipped learned prior (trained on our procedural
                      simulations, CPU-sized): SDS of its video diffusion model guided by its
                      plausibility classifier for the object class the prompt names (ball,
                      box/cube, chair, plant, cable/rope) or --scenario's (--guide-scale);
                      with --model DIR_OR_ID SDS with a ModelScope model (diffusers folder or id)
  image:first-frame   SDS with Stable Video Diffusion conditioned on the first simulated frame
  image:PICTURE.png   ... or on a picture; without --model: the shipped learned prior (for
                      --scenario's class)
  text+image:PROMPT   the learned prior conditioned on both; with --model FILE.safetensors a
                      generative prior of `invgfx video-prior train` alone
  plausible:CLASS     the shipped learned prior for object class CLASS (its caption); with
                      --model FILE.safetensors a classifier of `invgfx video-prior classifier`
                      alone: -log p(plausible | noised video)
  reference:VIDEO     L2 + (1 - SSIM) to a video of the whole sequence from the same camera
                      (groups x frames-per-group frames, same size as --width/--height);
                      with --true-E E, VIDEO is first rendered at that E (a recovery test);
                      VIDEO without a suffix is a folder of PNG frames, the lossless form
                      (.mp4 and .gif are lossy, and a warning says so)
  analytic:VIDEO      SDS with the exact denoiser of VIDEO as the clean sample (a test prior)

M = --groups x T = --frames-per-group frames are simulated at the config's frame_dt; epoch e
feeds frames g, g + M, ..., g + M (T - 1) with g = e mod M. Gradients: --grad-substeps 0
(default) back-propagates through every substep (full BPTT, one checkpoint per frame); K > 0
only through the last K substeps before each rendered frame, as the paper (K = 1). On our solver
K = 1 is biased: the plant stalls at 66 % error where full BPTT recovers E (docs/dreamphysics.md).
The substep follows E: each epoch uses the longest stable one, --cfl dx / c (c the elastic wave
speed at the current E, nu, density), at most the config's substep_dt.

Writes into --out: log.csv, params.json and checkpoint.pt every epoch (rerunning the command
continues the run from its checkpoint; --restart starts over), and at the end plot.png (parameters and loss against epoch) and
before_after.mp4 (initial vs learned parameters, side by side); --preview-every N also writes
preview_EPOCH.mp4 every N epochs."""

EXAMPLES = """examples:
  invgfx learn-physics ball --scenario --prior text:"a jelly ball bouncing on the floor" --init E=3e2 \\
      --learn E:30:9e7 --lr 0.3 --out out/ball                  # the shipped learned prior, no network
  invgfx learn-physics ball --config configs/dreamphysics/ball.json --scene-set n_gaussians=300 \\
      --prior reference:out/ball_gt --true-E 5e4 --init E=5e2 --out out/ball_low
  invgfx learn-physics ball --config configs/mpm/ball_jelly.json --prior reference:gt_frames --init E=5e2 --out out/ball
  invgfx learn-physics plant --config configs/mpm/plant_jelly.json --prior text:"a plant swaying in the wind" \\
      --model ~/models/text-to-video-ms-1.7b --device cuda --out out/plant
  invgfx learn-physics ball --config configs/mpm/ball_jelly.json --prior image:first-frame \\
      --model ~/models/stable-video-diffusion-img2vid-xt --groups 3 --frames-per-group 25 --device cuda --out out/ball_svd"""


def register(sub: argparse._SubParsersAction) -> None:
    from invgfx.dreamphysics.learned import GUIDE_SCALE

    p = sub.add_parser("learn-physics", help="learn E / nu / density of a Gaussian object from a video prior",
                       description=HELP, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scene", help="procedural object (ball, plant, ...) or a 3DGS .ply")
    p.add_argument("--config", default=None, help="MPM scene config (PhysGaussian/DreamPhysics .json or native .yaml); "
                   "required unless --scenario")
    p.add_argument("--prior", required=True,
                   help="text:PROMPT | image:first-frame | image:PICTURE | text+image:PROMPT | plausible:CLASS | "
                        "reference:VIDEO | analytic:VIDEO")
    p.add_argument("--model", default=None,
                   help="text:/image: priors: a diffusers model folder or id (ModelScope / SVD); any learned "
                        "prior: a .safetensors file of `invgfx video-prior classifier` or `train`, or the name of shipped "
                        "weights, classifier or denoiser, for one of them alone (`invgfx models`; default: the shipped "
                        "learned prior, both)")
    p.add_argument("--scenario", action="store_true",
                   help="simulate the canonical scenario the learned prior was trained on (SCENE: ball, box, chair, "
                        "plant or cable; its camera, frame rate and boundary conditions), instead of --config")
    p.add_argument("--out", required=True, help=resumed("output folder: the run"))
    p.add_argument("--epochs", type=int, default=30, help="epochs (default 30)")
    p.add_argument("--groups", type=int, default=None,
                   help="frame groups M (default 4, with --scenario 2 as the learned prior was trained; the paper: "
                        "8 text, 3 image)")
    p.add_argument("--frames-per-group", type=int, default=8, help="frames per group T (default 8; the paper: 16 text, 25 image)")
    p.add_argument("--grad-substeps", type=int, default=0,
                   help="substeps differentiated before each frame; 0 (default): full BPTT. The paper's 1 is cheaper "
                        "but measured biased on our solver (the plant stalls far from the truth, docs/dreamphysics.md)")
    p.add_argument("--cfl", type=float, default=0.4,
                   help="substep = CFL dx / c at the current E (c: elastic wave speed), at most the config's "
                        "substep_dt (default 0.4); 0: always the config's substep_dt")
    p.add_argument("--true-E", type=float, default=None, metavar="PA",
                   help="with --prior reference:VIDEO: first render VIDEO at this E (Pa), the ground truth to recover")
    p.add_argument("--learn", action="append", default=[], metavar="NAME:LO:HI[:LAYOUT][:lr=X]",
                   help="learn E, nu or density within bounds (SI units); repeatable (default E:1e3:1e8). "
                        "NAME:LO:HI:particles learns one value per particle; NAME:LO:HI:box=X0,Y0,Z0,X1,Y1,Z1[/box=...] "
                        "one value outside the boxes and one inside each (simulation space, m; later boxes win); "
                        "a last :lr=X gives that parameter its own learning rate. nu is stepped through a logit on "
                        "(0, 0.5) (its bounds lie inside), E and density through their logs")
    p.add_argument("--init", action="append", default=[], metavar="NAME=VALUE",
                   help="initial value of a learned parameter (default: the config's)")
    p.add_argument("--search", type=int, default=0, metavar="N",
                   help="before learning, judge the start and N log-spaced values of E between its --learn bounds "
                        "(forward only) and start from the best: for losses with plateaus far from the answer "
                        "(default 0: off); writes search.csv")
    p.add_argument("--stop-flat", type=float, default=0.0, metavar="RATIO",
                   help="stop once every parameter's gradient (dL/du in log.csv) has stayed below RATIO x its largest "
                        "so far for 3 epochs, e.g. 0.01: Adam steps about --lr whatever the gradient's size, so on a "
                        "flat loss it wanders (default 0: run every epoch)")
    p.add_argument("--jitter", type=float, default=0.0, metavar="SIGMA",
                   help="simulate each epoch at theta moved by SIGMA * N(0, 1) in its coordinate (theta * exp(SIGMA N) for log) instead of theta, SIGMA annealed to 0 "
                        "by the last epoch: smooths a bumpy loss so the steps pass over narrow local minima "
                        "(the plant from 100x below its range: 2; default 0: off)")
    p.add_argument("--update", choices=["adam", "eq5", "reference"], default="adam", help="update rule, in each parameter's coordinate (default adam; eq5 and reference are the paper's and its code's for E)")
    p.add_argument("--lr", type=float, default=0.1,
                   help="learning rate in each parameter's coordinate: log(theta), or the logit for nu (default 0.1; "
                        "a --learn ...:lr=X gives one parameter its own)")
    p.add_argument("--lr-final", type=float, default=None,
                   help="anneal the learning rate to this value over the epochs (half cosine); lets a parameter "
                        "settle instead of rattling around its optimum by about lr/2 (default: constant lr)")
    p.add_argument("--betas", default=None, metavar="B1,B2",
                   help="Adam's betas (default 0.5,0.9); smaller B2 keeps the steps at about lr while the gradient "
                        "shrinks on the way to the optimum")
    p.add_argument("--model-variant", default=None, metavar="VARIANT",
                   help="text:/image: priors with --model DIR: load the weight files of this variant, e.g. fp16 "
                        "(*.fp16.safetensors, as `huggingface-cli download ... --include '*fp16*'` fetches them); "
                        "on CUDA the networks run in float16, the VAE in float32 where its config says force_upcast")
    p.add_argument("--vae-chunk", type=int, default=None, metavar="N",
                   help="text:/image: priors: VAE-encode N frames at a time (less memory; default: all at once). "
                        "Frames are resized to --prior-size first")
    p.add_argument("--prior-size", type=int, default=256, metavar="PX",
                   help="text:/image: priors: the square side frames are resized to before the model's VAE (default "
                        "256, as DreamPhysics renders for ModelScope and SVD; 0: as rendered, e.g. when --width and "
                        "--height already are the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance of SDS priors (default: 100 text, 1..3 image)")
    p.add_argument("--guide-scale", type=float, default=None,
                   help="the shipped learned prior's weight of its plausibility classifier against its denoiser "
                        f"(classifier guidance; default {GUIDE_SCALE:g})")
    p.add_argument("--scene-set", action="append", default=[], metavar="KEY=VALUE", help="procedural scene parameter; repeatable")
    p.add_argument("--e-unit", choices=["Pa", "1e7Pa"], default=None, help="unit of E in a PhysGaussian-style config")
    p.add_argument("--max-particles", type=int, default=None, help="simulate at most N particles (others are carried)")
    p.add_argument("--width", type=int, default=None, help="render width (default 128, with --scenario 32)")
    p.add_argument("--height", type=int, default=None, help="render height (default 128, with --scenario 32)")
    p.add_argument("--background", default="1,1,1", help="background r,g,b in [0, 1] (default white)")
    p.add_argument("--fps", type=float, default=10.0, help="frame rate of the written videos (default 10)")
    p.add_argument("--preview-every", type=int, default=0, metavar="N", help="write a preview video every N epochs (default off)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint, and refuse "
                   "to start when there is none (without it, a run with a checkpoint is continued too)")
    add_restart(p)
    p.set_defaults(func=run_learn_physics)

    from invgfx.dreamphysics.learned.cli import register as register_video_prior

    register_video_prior(sub)


def parse_learn(specs: list[str], inits: list[str], config, n_particles: int) -> list:
    """--learn specs and --init NAME=VALUE -> PhysicalParameters (initial value: --init, else the
    config's). A spec is NAME:LO:HI (one global value), NAME:LO:HI:particles (one value per
    simulated particle, n_particles of them) or NAME:LO:HI:box=X0,Y0,Z0,X1,Y1,Z1[/box=...] (one
    value outside the boxes and one per box; corners in simulation space, m), each optionally
    followed by :lr=X, that parameter's own learning rate. nu is learnt through a logit on
    (0, 0.5), E and density through their logs (params.OPEN_INTERVALS)."""
    import torch

    from invgfx.dreamphysics.errors import DreamPhysicsError
    from invgfx.dreamphysics.params import field, regions, scalar
    from invgfx.dreamphysics.physics import MATERIAL_NAMES

    init = {}
    for item in inits:
        name, _, value = item.partition("=")
        try:
            init[name] = float(value)
        except ValueError:
            raise DreamPhysicsError(f"--init {item!r}: expected NAME=VALUE, e.g. E=5e4") from None
    params = []
    for spec in specs or ["E:1e3:1e8"]:
        parts = spec.split(":")
        try:
            name, lo, hi = parts[0], float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise DreamPhysicsError(f"--learn {spec!r}: expected NAME:LO:HI, e.g. E:1e3:1e8 (optionally "
                                    ":particles or :box=X0,Y0,Z0,X1,Y1,Z1, then :lr=X)") from None
        if name not in MATERIAL_NAMES:
            raise DreamPhysicsError(f"--learn {spec!r}: {name} is not one of {MATERIAL_NAMES}")
        value = init.pop(name, getattr(config, name))
        rest = parts[3:]
        lr = None
        if rest and rest[-1].startswith("lr="):
            try:
                lr = float(rest.pop()[3:])
            except ValueError:
                raise DreamPhysicsError(f"--learn {spec!r}: lr= takes a number, e.g. {name}:{parts[1]}:{parts[2]}:lr=0.2") from None
        if len(rest) > 1:
            raise DreamPhysicsError(f"--learn {spec!r}: expected NAME:LO:HI[:particles or :box=...][:lr=X]")
        layout = rest[0] if rest else ""
        if not layout:
            params.append(scalar(name, value, lo, hi, lr))
        elif layout == "particles":
            params.append(field(name, torch.full((n_particles,), float(value)), lo, hi, lr))
        else:
            params.append(regions(name, value, _boxes(spec, layout), [value] * len(layout.split("/")), lo, hi, lr))
    if init:
        raise DreamPhysicsError(f"--init {sorted(init)}: not learned; add --learn NAME:LO:HI for them")
    return params


def _boxes(spec: str, layout: str) -> list:
    """'box=X0,Y0,Z0,X1,Y1,Z1/box=...' -> [((x0, y0, z0), (x1, y1, z1)), ...] with min < max."""
    from invgfx.dreamphysics.errors import DreamPhysicsError

    boxes = []
    for item in layout.split("/"):
        key, _, numbers = item.partition("=")
        try:
            c = [float(v) for v in numbers.split(",")]
        except ValueError:
            c = []
        if key != "box" or len(c) != 6 or not all(a < b for a, b in zip(c[:3], c[3:])):
            raise DreamPhysicsError(f"--learn {spec!r}: {item!r} is not particles or box=X0,Y0,Z0,X1,Y1,Z1 with "
                                    "X0 < X1, Y0 < Y1, Z0 < Z1 (simulation space, m); separate boxes with /")
        boxes.append((c[:3], c[3:]))
    return boxes


def parse_betas(spec: str) -> tuple[float, float]:
    """'B1,B2' -> (B1, B2), each in [0, 1)."""
    from invgfx.dreamphysics.errors import DreamPhysicsError

    try:
        betas = tuple(float(b) for b in spec.split(","))
    except ValueError:
        betas = ()
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise DreamPhysicsError(f"--betas {spec!r}: expected two numbers in [0, 1) separated by a comma, e.g. 0.5,0.9")
    return betas


def parse_prior(spec: str, model: str | None) -> tuple[str, str]:
    """--prior KIND:ARG -> (kind, arg), checked before any simulation is set up."""
    from pathlib import Path

    from invgfx.dreamphysics import diffusion
    from invgfx.dreamphysics.errors import DreamPhysicsError

    kind, _, arg = spec.partition(":")
    if kind not in ("text", "image", "text+image", "plausible", "reference", "analytic") or not arg:
        raise DreamPhysicsError(f"--prior {spec!r}: expected text:PROMPT, image:first-frame, image:PICTURE, "
                                "text+image:PROMPT, plausible:CLASS, reference:VIDEO or analytic:VIDEO")
    if kind == "plausible" and not is_learned(model):
        raise DreamPhysicsError(f"--prior {spec}: --model {model} is not a learned-prior .safetensors file; leave "
                                "--model out for the shipped classifier, or train one with "
                                "`invgfx video-prior classifier --clips CLIPS --out DIR`")
    if kind == "text+image" and model is not None and not is_learned(model):
        raise DreamPhysicsError(f"--prior text+image:... is the learned prior's; --model {model} is a diffusers model: "
                                "use text: (ModelScope) or image: (Stable Video Diffusion) with it")
    if kind in ("text", "image") and not is_learned(model) and str(model).startswith((".", "/", "~")) \
            and not Path(model).expanduser().is_dir():
        default_id = diffusion.TEXT_TO_VIDEO_ID if kind == "text" else diffusion.IMAGE_TO_VIDEO_ID
        raise DreamPhysicsError(f"--model {model}: no such folder; --prior {kind}: needs a diffusers folder of {default_id} "
                                f"(download it where there is network: huggingface-cli download {default_id} --local-dir DIR), "
                                "or no --model for the shipped learned prior")
    return kind, arg


def is_learned(model: str | None) -> bool:
    """Does --model name the learned prior (absent: the shipped weights; or a .safetensors file)?"""
    return model is None or str(model).endswith(".safetensors")


def camera_view(camera: dict) -> tuple[float | None, float | None]:
    """(azimuth, elevation) in radians of a PhysGaussian camera (`init_azimuthm`, `init_elevation`,
    degrees), or Nones: what DreamPhysics hands its text-to-video guidance for the view-dependent
    prompt suffix (front / side / back / overhead view)."""
    import math

    if "init_azimuthm" not in camera:
        return None, None
    return math.radians(float(camera["init_azimuthm"])), math.radians(float(camera.get("init_elevation", 0.0)))


def build_prior(kind: str, arg: str, model: str | None, guidance: float | None, device: str, first_frame,
                scenario_class: str | None = None, guide_scale: float | None = None, view=(None, None),
                variant: str | None = None, vae_chunk: int | None = None, prior_size: int = 256):
    """(prior, condition) for a parsed --prior; `first_frame()` renders frame 0 when the prior needs
    it; scenario_class: --scenario's class, the learned classifier's class unless the prior names one;
    guide_scale: the shipped learned prior's classifier weight; view: the camera's (azimuth,
    elevation) in radians (`camera_view`), for the text-to-video prompt's view suffix; variant,
    vae_chunk: the diffusion model's weight files (e.g. "fp16") and frames per VAE encode;
    prior_size: the side frames are resized to before its VAE (0: as rendered)."""
    from invgfx.dreamphysics import diffusion
    from invgfx.dreamphysics.prior import Condition
    from invgfx.dreamphysics.reference import ReferenceVideoPrior
    from invgfx.dreamphysics.sds import AnalyticSDSPrior
    from invgfx.splat import read_image, read_video

    if kind == "reference":
        return ReferenceVideoPrior(arg), Condition()
    if kind == "analytic":
        return AnalyticSDSPrior(read_video(arg)), Condition()
    if is_learned(model):
        from invgfx.dreamphysics.errors import DreamPhysicsError
        from invgfx.dreamphysics.learned import class_of_prompt, default_prior, file_kind
        from invgfx.dreamphysics.learned.scenarios import CLASSES

        classifier = model is None or file_kind(model) == "classifier"
        if kind == "plausible" and not classifier:
            raise DreamPhysicsError(f"--prior plausible:{arg}: --model {model} is a generative prior, not a "
                                    "plausibility classifier; use --prior text+image:PROMPT with it")
        if kind == "plausible":
            object_class = arg
        elif not classifier:
            object_class = None  # the generative prior reads the caption itself
        elif scenario_class is not None:
            object_class = scenario_class
            named = class_of_prompt(arg) if kind in ("text", "text+image") else scenario_class
            if named != scenario_class:  # the classifier judges the scenario's class, whatever the prompt says
                raise DreamPhysicsError(f"--prior {kind}:{arg!r} names a {named}, but --scenario simulates the {scenario_class}; "
                                        f"name the {scenario_class} in the prompt, or use --prior plausible:{scenario_class}")
        elif kind == "image":
            raise DreamPhysicsError(f"--prior image:{arg} with the learned classifier needs the object's class: add "
                                    "--scenario, or use --prior plausible:CLASS")
        else:
            object_class = class_of_prompt(arg)
        mode = {"text": "text", "image": "image", "text+image": "both", "plausible": "both"}[kind]
        prior = default_prior(object_class, model, mode, guide_scale=guide_scale, guidance_scale=guidance)
        # image:first-frame: the prior takes each group's own first frame (as it was trained)
        image = read_image(arg) if kind == "image" and arg != "first-frame" else None
        text = None if kind == "image" else CLASSES[arg].captions[0] if kind == "plausible" else arg
        return prior, Condition(text=text, image=image)
    options = {"vae_chunk": vae_chunk, "resolution": prior_size or None} | ({} if guidance is None else {"guidance_scale": guidance})
    if kind == "text":
        prior = diffusion.TextToVideoSDS(diffusion.load_text_to_video(model, device, variant=variant), **options)
        return prior, Condition(text=arg, azimuth=view[0], elevation=view[1])
    prior = diffusion.ImageToVideoSDS(diffusion.load_image_to_video(model, device, variant=variant), **options)
    image = first_frame() if arg == "first-frame" else read_image(arg)
    return prior, Condition(image=image)


def run_learn_physics(args) -> int:
    import json
    from pathlib import Path

    import torch

    from invgfx.dreamphysics.errors import DreamPhysicsError
    from invgfx.dreamphysics.loop import LearnConfig, learn
    from invgfx.dreamphysics.params import ParameterSet, scalar
    from invgfx.dreamphysics.physics import mpm_video
    from invgfx.dreamphysics.report import plot_history, side_by_side
    from invgfx.scenes import make_scene
    from invgfx.scenes.cli import parse_settings
    from invgfx.splat import write_video
    from invgfx.splat.cli import load_scene, parse_vector

    try:
        from invgfx.mpm import load_config
    except ImportError as err:
        raise DreamPhysicsError(f"learn-physics needs the MPM simulator (invgfx.mpm), which cannot be imported: {err}") from None
    from invgfx.models import resolve_weights

    args.model = resolve_weights(args.model, "--model", "video-prior", strict=False)  # a shipped name; else a path or id
    kind, arg = parse_prior(args.prior, args.model)
    from invgfx.dreamphysics.loop import CHECKPOINT

    if args.resume and args.restart:
        raise DreamPhysicsError("--resume and --restart: give one (continue the run in --out, or start it over)")
    checkpoint = Path(args.out) / CHECKPOINT
    resume = args.resume or (checkpoint.exists() and not args.restart)  # the policy: a run folder is resumed
    if args.grad_substeps < 0:
        raise DreamPhysicsError(f"--grad-substeps {args.grad_substeps}: use a positive number, or 0 for full BPTT")
    if not 0 <= args.cfl < 1:
        raise DreamPhysicsError(f"--cfl {args.cfl}: use a Courant number in (0, 1), or 0 for the config's substep")
    settings = parse_settings(args.scene_set)
    # --scenario: the learned prior's clips (2 groups of 8 frames at 32 px) unless told otherwise
    args.groups = args.groups or (2 if args.scenario else 4)
    side = 32 if args.scenario else 128
    args.width, args.height = args.width or side, args.height or side
    if args.scenario:
        from invgfx.dreamphysics.learned import demo_scene

        if args.config or settings:
            raise DreamPhysicsError("--scenario brings its own scene config and object: drop --config / --scene-set")
        cloud, cfg = demo_scene(args.scene)
    elif args.config is None:
        raise DreamPhysicsError("--config CONFIG is required (an MPM scene config), or --scenario for the canonical "
                                "scenario of the learned prior")
    else:
        cfg = load_config(args.config, e_unit=args.e_unit)
        cloud = make_scene(args.scene, seed=args.seed, **settings).cloud if settings else load_scene(args.scene, seed=args.seed)
    def say(stage: str) -> None:  # the start-up takes tens of seconds before the first bar: say what it does
        if sys.stderr.isatty():  # to a person; a script's stderr keeps one line per error
            print(f"learn-physics: {stage}", file=sys.stderr, flush=True)

    say(f"filling the MPM grid with {len(cloud.means)} Gaussians and setting up the simulation")
    simulate = mpm_video(cloud, cfg, width=args.width, height=args.height,
                         background=parse_vector(args.background, "--background"),
                         grad_substeps=args.grad_substeps or None, cfl=args.cfl or None,
                         max_particles=args.max_particles, device=args.device, seed=args.seed)

    def fresh_params() -> ParameterSet:
        return ParameterSet(parse_learn(args.learn, args.init, cfg, simulate.sim.x0.shape[0]))

    params = fresh_params()
    all_frames = torch.arange(args.groups * args.frames_per_group)
    if args.true_E is not None:
        if kind != "reference":
            raise DreamPhysicsError("--true-E renders the target of a reference prior: use --prior reference:VIDEO")
        if not (resume and Path(arg).exists()):  # a resumed run keeps its target
            say(f"simulating the target video at E = {args.true_E:g} Pa")
            with torch.no_grad():
                truth = simulate(ParameterSet([scalar("E", args.true_E, args.true_E, args.true_E)]), all_frames)
            Path(arg).parent.mkdir(parents=True, exist_ok=True)
            write_video(arg, truth, fps=args.fps)

    def first_frame():
        with torch.no_grad():
            return simulate(params, torch.tensor([0]))[0]

    say(f"building the {kind} prior")
    prior, condition = build_prior(kind, arg, args.model, args.guidance, args.device, first_frame,
                                   scenario_class=args.scene if args.scenario else None, guide_scale=args.guide_scale,
                                   view=camera_view(cfg.camera), variant=args.model_variant, vae_chunk=args.vae_chunk,
                                   prior_size=args.prior_size)
    out = Path(args.out)
    config = LearnConfig(epochs=args.epochs, groups=args.groups, frames_per_group=args.frames_per_group,
                         update=args.update, lr=args.lr, lr_final=args.lr_final, seed=args.seed, search=args.search,
                         jitter=args.jitter, stop_flat=args.stop_flat,
                         **({"betas": parse_betas(args.betas)} if args.betas else {}))

    def preview(epoch: int, current: ParameterSet) -> None:
        if args.preview_every and (epoch + 1) % args.preview_every == 0:
            with torch.no_grad():
                write_video(out / f"preview_{epoch + 1:04d}.mp4", simulate(current, all_frames), fps=args.fps)

    if resume:
        print(f"resuming the run in {out} from {checkpoint.name} (--restart starts it over)")
    elif args.restart:
        checkpoint.unlink(missing_ok=True)
    history = learn(simulate, params, prior, config, condition=condition, out_dir=out, resume=resume,
                    on_epoch=preview)
    if not history:
        raise DreamPhysicsError(f"--epochs {args.epochs}: nothing was learned; ask for at least one epoch")
    with torch.no_grad():
        before = simulate(fresh_params(), all_frames)
        after = simulate(params, all_frames)
    write_video(out / "before_after.mp4", side_by_side(before, after), fps=args.fps)
    plot_history(history, out / "plot.png")
    print(f"learned {json.dumps(params.summary())} in {len(history)} epochs; wrote {out}/params.json, plot.png, "
          "before_after.mp4, log.csv, checkpoint.pt")
    return 0
