"""Training the procedural video prior: DDPM v- (or epsilon-) prediction on simulated clips.

Each 16-frame clip gives `groups` training videos (frames g, g + groups, ...), as learn-physics
feeds the prior, each also mirrored left-right (a mirrored scene is as physical). The caption
and the first frame are dropped independently with probability `drop` (classifier-free
guidance). AdamW, an exponential moving average of the weights (what is saved and shipped),
`checkpoint.pt` every `checkpoint_every` steps (model, EMA, optimiser, step, random state):
re-running the same command resumes. `log.csv`: step, loss, seconds.
"""

from __future__ import annotations

import copy
import csv
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from invgfx.dreamphysics.learned.data import load_clips
from invgfx.dreamphysics.learned.model import PriorConfig, VideoDenoiser, noise_schedule, save_denoiser, vocabulary_of
from invgfx.dreamphysics.learned.scenarios import CLASSES, FRAME_DT, GROUPS, NEGATIVE_SUFFIX
from invgfx.runlog import open_log


@dataclass
class TrainConfig:
    steps: int = 5000
    batch: int = 8
    lr: float = 4e-4
    ema: float = 0.995
    drop: float = 0.1
    checkpoint_every: int = 100
    seed: int = 0
    threads: int = 2


def training_videos(clips: dict, groups: int = GROUPS) -> tuple[torch.Tensor, list[str]]:
    """(N groups, T, 3, S, S) uint8 videos and their captions from clips (N, FRAMES, 3, S, S)."""
    video = clips["video"]
    parts = [video[:, g::groups] for g in range(groups)]
    return torch.cat(parts), clips["caption"] * groups


def negative_suffix_of(captions: list[str]) -> str:
    """NEGATIVE_SUFFIX if some training captions carry it (implausible clips), else "": the model
    then has a negative prompt for SDS (LearnedVideoPrior)."""
    return NEGATIVE_SUFFIX if any(c.endswith(NEGATIVE_SUFFIX) for c in captions) else ""


def batch_of(videos: torch.Tensor, captions: list[str], index: torch.Tensor, generator: torch.Generator):
    """x0 (B, 3, T, S, S) in [-1, 1], randomly mirrored, and the captions of `index`."""
    x = videos[index].float().div(127.5).sub(1).transpose(1, 2)
    flip = torch.rand(len(index), generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None, None], x.flip(-1), x)
    return x, [captions[i] for i in index.tolist()]


def train(clips_dir: str | Path, out: str | Path, config: TrainConfig, prior: PriorConfig | None = None,
          progress: bool = True, resume: bool = True) -> Path:
    """Train (or, with `resume` and a checkpoint, resume) a prior on the clips under `clips_dir`;
    writes `out/prior.safetensors` (EMA weights), `out/checkpoint.pt`, `out/log.csv`. Returns the
    weights path."""
    from tqdm import tqdm

    torch.set_num_threads(config.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clips = load_clips(clips_dir)
    videos, captions = training_videos(clips)
    prior = prior or PriorConfig(size=videos.shape[-1], frames=videos.shape[1], vocabulary=vocabulary_of(captions),
                                 frame_dt=FRAME_DT, groups=GROUPS, classes=list(CLASSES),
                                 negative_suffix=negative_suffix_of(captions))
    torch.manual_seed(config.seed)
    model = VideoDenoiser(prior)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    alphas = noise_schedule(prior).alphas_cumprod.float()
    gen = torch.Generator().manual_seed(config.seed)
    step, seconds = 0, 0.0
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["generator"])
        step, seconds = state["step"], state["seconds"]
    with open_log(out / "log.csv", ["step", "loss", "seconds"], step) as f:
        writer = csv.writer(f)
        bar = tqdm(total=config.steps, initial=step, desc="train prior", unit="step", disable=not progress)
        while step < config.steps:
            start = time.perf_counter()
            index = torch.randint(len(videos), (config.batch,), generator=gen)
            x0, caps = batch_of(videos, captions, index, gen)
            first = x0[:, :, 0]
            keep_image = (torch.rand(config.batch, generator=gen) >= config.drop).float()[:, None, None, None]
            caps = [c if torch.rand(1, generator=gen).item() >= config.drop else "" for c in caps]
            t = torch.randint(prior.n_timesteps, (config.batch,), generator=gen)
            eps = torch.randn(x0.shape, generator=gen)
            a = alphas[t][:, None, None, None, None]
            x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
            target = a.sqrt() * eps - (1 - a).sqrt() * x0 if prior.prediction == "v_prediction" else eps
            loss = F.mse_loss(model(x_t, t, model.tokens(caps), first * keep_image), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - config.ema)
            step += 1
            seconds += time.perf_counter() - start
            writer.writerow([step, f"{loss.item():.5f}", f"{seconds:.1f}"])
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if step % config.checkpoint_every == 0 or step == config.steps:
                f.flush()
                _checkpoint(ckpt, model, ema, opt, gen, step, seconds)
                save_denoiser(ema, out / "prior.safetensors",
                              {"steps": step, "train_seconds": round(seconds), "clips": len(clips["caption"]),
                               "batch": config.batch, "lr": config.lr})
        bar.close()
    return out / "prior.safetensors"


def _checkpoint(path: Path, model, ema, opt, gen, step: int, seconds: float) -> None:
    from invgfx.atomic import atomic_output

    with atomic_output(path) as tmp:
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "generator": gen.get_state(), "step": step, "seconds": seconds}, tmp)


@torch.no_grad()
def sample(model: VideoDenoiser, captions: list[str], first: torch.Tensor | None, steps: int = 25,
           guidance: float = 3.0, generator: torch.Generator | None = None, start: float = 1.0) -> torch.Tensor:
    """DDIM samples (B, T, 3, S, S) in [0, 1] for `captions` and first frames (B, 3, S, S) in
    [0, 1] (None: text only), with classifier-free guidance over both conditions.

    start < 1 (with first frames): begin at noise level `start` of the schedule from the first
    frame repeated over time and noised there (SDEdit), instead of from pure noise at t = T: the
    question "how does this frame move?" without the top noise levels, which a briefly trained
    model has not learned (docs/video-prior.md)."""
    from diffusers import DDIMScheduler

    from invgfx.dreamphysics.errors import DreamPhysicsError

    cfg = model.config
    B = len(captions)
    ddim = DDIMScheduler(num_train_timesteps=cfg.n_timesteps, beta_schedule=cfg.schedule, clip_sample=True,
                         prediction_type=cfg.prediction)
    ddim.set_timesteps(steps)
    timesteps = [int(t) for t in ddim.timesteps if t <= start * (cfg.n_timesteps - 1)]
    if not 0 < start <= 1 or not timesteps:
        raise DreamPhysicsError(f"sample: start {start} leaves no DDIM step of {steps}; use a noise level in "
                                f"({1 / steps:.2g}, 1]")
    cond_first = torch.zeros(B, 3, cfg.size, cfg.size) if first is None else 2 * first - 1
    x = torch.randn(B, 3, cfg.frames, cfg.size, cfg.size, generator=generator)
    if start < 1 and first is not None:
        a = ddim.alphas_cumprod[timesteps[0]].float()
        x = a.sqrt() * cond_first[:, :, None].expand_as(x) + (1 - a).sqrt() * x
    tokens = model.tokens(["" for _ in captions] + list(captions))
    firsts = torch.cat([torch.zeros_like(cond_first), cond_first])
    for t in timesteps:
        ts = torch.full((2 * B,), t, dtype=torch.long)
        uncond, cond = model(torch.cat([x, x]), ts, tokens, firsts).chunk(2)
        x = ddim.step(uncond + guidance * (cond - uncond), t, x).prev_sample
    return ((x.clamp(-1, 1) + 1) / 2).transpose(1, 2)


def sample_scores(truth: torch.Tensor, fakes: torch.Tensor) -> dict[str, float]:
    """How much samples look like the simulated clip they were asked to continue.

    truth (T, 3, S, S), fakes (N, T, 3, S, S), both in [0, 1] and sharing frame 0 as condition.
    Returns mse: of the samples' frames 1.. against the truth's; still_mse: the same for the
    first frame held still (what a model that copies its condition scores); motion and
    truth_motion: mean |frame k - frame 0| over k >= 1 and pixels, of the samples and of the
    truth (a still video scores 0); first_mse: the samples' frame 0 against the condition."""
    still = truth[:1].expand_as(truth)
    return {"mse": float(((fakes[:, 1:] - truth[1:]) ** 2).mean()),
            "still_mse": float(((still[1:] - truth[1:]) ** 2).mean()),
            "motion": float((fakes[:, 1:] - fakes[:, :1]).abs().mean()),
            "truth_motion": float((truth[1:] - truth[:1]).abs().mean()),
            "first_mse": float(((fakes[:, 0] - truth[0]) ** 2).mean())}


def sample_unseen(model: VideoDenoiser, per_class: int = 1, samples: int = 2, steps: int = 25, guidance: float = 1.0,
                  start: float = 1.0, seed: int = 0, classes=None,
                  progress: bool = False) -> tuple[list[torch.Tensor], dict[str, dict]]:
    """Per class, `per_class` scenarios no training clip used (seeds 10_000 + seed + k), simulated
    (the truth) and `samples` samples for their first frame and caption. Returns the grid rows
    (per scenario: the truth, then its samples; each (T, 3, S, S)) and per class the
    `sample_scores` averaged over its scenarios. progress: a bar over the scenarios."""
    from tqdm import tqdm

    from invgfx.dreamphysics.learned.data import render_clip
    from invgfx.dreamphysics.learned.scenarios import scenario

    cfg = model.config
    gen = torch.Generator().manual_seed(seed)
    rows, scores = [], {}
    classes = list(classes or cfg.classes)
    bar = tqdm(total=len(classes) * per_class, desc="simulate + sample", unit="scenario", disable=not progress)
    for name in classes:
        per = []
        for k in range(per_class):
            sc = scenario(name, 10_000 + seed + k)
            with torch.no_grad():
                truth = render_clip(sc, cfg.size)[:: cfg.groups]
            fakes = sample(model, [sc.caption] * samples, truth[:1].expand(samples, -1, -1, -1), steps=steps,
                           guidance=guidance, generator=gen, start=start)
            rows += [truth, *fakes]
            per.append(sample_scores(truth, fakes))
            bar.update(1)
        scores[name] = {key: sum(p[key] for p in per) / len(per) for key in per[0]}
    bar.close()
    return rows, scores


def scores_table(scores: dict[str, dict]) -> str:
    """A Markdown table of `sample_unseen`'s scores, a row per class."""
    lines = ["| class | MSE vs simulation | first frame held still | motion of samples | of simulations | frame 0 MSE |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, sc in scores.items():
        lines.append(f"| {name} | {sc['mse']:.4f} | {sc['still_mse']:.4f} | {sc['motion']:.4f} | "
                     f"{sc['truth_motion']:.4f} | {sc['first_mse']:.4f} |")
    return "\n".join(lines)


def write_sample_grid(path: str | Path, rows: list[torch.Tensor], samples: int, config: PriorConfig) -> None:
    """`sample_unseen`'s rows as a PNG grid (a row per video, a column per frame) and, beside it,
    a GIF whose every frame shows each scenario's simulation and samples side by side."""
    from invgfx.splat.io_image import image_grid, write_png, write_video

    write_png(path, image_grid(torch.cat(rows), nrow=config.frames))
    gif = torch.stack([image_grid([r[k] for r in rows], nrow=1 + samples) for k in range(config.frames)])
    write_video(str(path).rsplit(".", 1)[0] + ".gif", gif, fps=round(1 / (config.groups * config.frame_dt)))
