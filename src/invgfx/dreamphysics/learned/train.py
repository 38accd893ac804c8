"""Training the procedural video prior: DDPM epsilon-prediction on simulated clips.

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


@dataclass
class TrainConfig:
    steps: int = 3000
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
          progress: bool = True) -> Path:
    """Train (or resume) a prior on the clips under `clips_dir`; writes `out/prior.safetensors`
    (EMA weights), `out/checkpoint.pt`, `out/log.csv`. Returns the weights path."""
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
    sched = noise_schedule(prior)
    alphas = sched.alphas_cumprod.float()
    gen = torch.Generator().manual_seed(config.seed)
    step, seconds = 0, 0.0
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["generator"])
        step, seconds = state["step"], state["seconds"]
    log = out / "log.csv"
    new_log = not log.exists() or step == 0
    with open(log, "w" if new_log else "a", newline="") as f:
        writer = csv.writer(f)
        if new_log:
            writer.writerow(["step", "loss", "seconds"])
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
            loss = F.mse_loss(model(x_t, t, model.tokens(caps), first * keep_image), eps)
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
    ddim = DDIMScheduler(num_train_timesteps=cfg.n_timesteps, beta_schedule=cfg.schedule, clip_sample=True)
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
