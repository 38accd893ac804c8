"""A plausibility classifier on noised clips, and the prior that guides physics with it.

The generative prior (`model.VideoDenoiser`) learned what the clips look like but hardly which
caption they carry: its denoising error under "... with unrealistic physics" differs from the
plain caption's by 2e-5 of 0.046 at every E (docs/video-prior.md). This model learns that one
bit directly: given a noised 8-frame group x_t = sqrt(a_t) x + sqrt(1 - a_t) eps, the noise
level t and the object class, the logit that the clip's E lies outside its class's plausible
range. `ClassifierPrior` then uses -log p(plausible | x_t) as the loss of `learn-physics`
(classifier guidance, Dhariwal & Nichol 2021): its gradient flows through the classifier, the
renderer and the MPM into the parameters, and is a plausibility signal by construction.

Network: four 3x3x3 convolutions (channels c, 2c, 2c, 2c; strides 1, (1,2,2), 2, 2), SiLU,
the class embedding and a linear map of t / n_timesteps added after the first, mean-pooled to
one logit. Noise: DDPM `linear` betas (1e-4 to 0.02), t < `t_max` (the levels SDS uses).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from invgfx.dreamphysics.errors import DreamPhysicsError
from invgfx.dreamphysics.learned.model import noise_schedule
from invgfx.dreamphysics.prior import Condition, VideoPrior, check_video


@dataclass
class ClassifierConfig:
    """size: frame side in pixels; frames: T; channels: width c of the first layer; classes:
    object classes (the label's meaning); schedule, n_timesteps, t_max: the noise it is trained
    on (t uniform in [0, t_max))."""

    size: int = 32
    frames: int = 8
    channels: int = 24
    classes: list = field(default_factory=list)
    schedule: str = "linear"
    n_timesteps: int = 1000
    t_max: int = 500


class PlausibilityClassifier(nn.Module):
    """x_t (B, 3, T, S, S) in [-1, 1] (noised), t (B,) long, label (B,) class index ->
    (B,) logit of "implausible"."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        c = config.channels
        self.label = nn.Embedding(max(len(config.classes), 1), c)
        self.level = nn.Linear(1, c)
        self.convs = nn.ModuleList([nn.Conv3d(3, c, 3, padding=1), nn.Conv3d(c, 2 * c, 3, padding=1, stride=(1, 2, 2)),
                                    nn.Conv3d(2 * c, 2 * c, 3, padding=1, stride=2),
                                    nn.Conv3d(2 * c, 2 * c, 3, padding=1, stride=2)])
        self.head = nn.Linear(2 * c, 1)

    def forward(self, x_t: Tensor, t: Tensor, label: Tensor) -> Tensor:
        cond = self.label(label) + self.level(t.float()[:, None] / self.config.n_timesteps)
        h = F.silu(self.convs[0](x_t) + cond[:, :, None, None, None])
        for conv in self.convs[1:]:
            h = F.silu(conv(h))
        return self.head(h.mean((2, 3, 4)))[:, 0]


def noised(x: Tensor, t: Tensor, alphas: Tensor, generator: torch.Generator | None) -> Tensor:
    """x_t = sqrt(a_t) x + sqrt(1 - a_t) eps for x (B, ...) and t (B,)."""
    a = alphas[t].view(-1, *[1] * (x.ndim - 1))
    return a.sqrt() * x + (1 - a).sqrt() * torch.randn(x.shape, generator=generator)


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """AdamW lr / weight decay, batch of 8-frame groups, held-out groups for the accuracy."""

    steps: int = 5000
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    held_out: int = 150
    checkpoint_every: int = 250
    seed: int = 0
    threads: int = 1


def train_classifier(clips_dir: str | Path, out: str | Path, config: ClassifierTrainConfig = ClassifierTrainConfig(),
                     progress: bool = True) -> Path:
    """Train (or resume) on the clips under `clips_dir` (plausible and implausible ones, see
    scenarios.NEGATIVE_SUFFIX); writes out/classifier.safetensors, out/checkpoint.pt and
    out/log.csv (step, loss, held-out accuracy at checkpoints, seconds). Returns the weights path."""
    from tqdm import tqdm

    from invgfx.dreamphysics.learned.data import load_clips
    from invgfx.dreamphysics.learned.scenarios import CLASSES, NEGATIVE_SUFFIX
    from invgfx.dreamphysics.learned.train import training_videos

    torch.set_num_threads(config.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clips = load_clips(clips_dir)
    videos, captions = training_videos(clips)
    labels = torch.cat([clips["label"]] * (len(videos) // len(clips["label"])))
    target = torch.tensor([c.endswith(NEGATIVE_SUFFIX) for c in captions]).float()
    if target.min() == target.max():
        raise DreamPhysicsError(f"{clips_dir}: the classifier needs plausible and implausible clips; make them with "
                                "`invgfx video-prior data --implausible-per-class 50`")
    model_config = ClassifierConfig(size=videos.shape[-1], frames=videos.shape[1], classes=list(CLASSES))
    torch.manual_seed(config.seed)
    model = PlausibilityClassifier(model_config)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    alphas = noise_schedule(model_config).alphas_cumprod.float()
    gen = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(videos), generator=torch.Generator().manual_seed(config.seed + 1))
    test, train = order[: config.held_out], order[config.held_out:]

    def batch(index, generator):
        x = videos[index].float().div(127.5).sub(1).transpose(1, 2)
        t = torch.randint(model_config.t_max, (len(index),), generator=generator)
        return noised(x, t, alphas, generator), t

    def accuracy() -> float:
        with torch.no_grad():
            x_t, t = batch(test, torch.Generator().manual_seed(config.seed + 2))
            return float(((model(x_t, t, labels[test]) > 0).float() == target[test]).float().mean())

    step, seconds = 0, 0.0
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["generator"])
        step, seconds = state["step"], state["seconds"]
    with open(out / "log.csv", "w" if step == 0 else "a", newline="") as f:
        writer = csv.writer(f)
        if step == 0:
            writer.writerow(["step", "loss", "held_out_accuracy", "seconds"])
        bar = tqdm(total=config.steps, initial=step, desc="train classifier", unit="step", disable=not progress)
        while step < config.steps:
            began = time.perf_counter()
            index = train[torch.randint(len(train), (config.batch,), generator=gen)]
            x_t, t = batch(index, gen)
            loss = F.binary_cross_entropy_with_logits(model(x_t, t, labels[index]), target[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            seconds += time.perf_counter() - began
            done = step % config.checkpoint_every == 0 or step == config.steps
            acc = accuracy() if done else None
            writer.writerow([step, f"{loss.item():.4f}", "" if acc is None else f"{acc:.3f}", f"{seconds:.1f}"])
            bar.update(1)
            if done:
                bar.set_postfix(loss=f"{loss.item():.3f}", held_out=f"{acc:.3f}")
                f.flush()
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "generator": gen.get_state(),
                            "step": step, "seconds": seconds}, ckpt)
                save_classifier(model, out / "classifier.safetensors",
                                {"steps": step, "train_seconds": round(seconds), "held_out_accuracy": acc,
                                 "clips": len(clips["caption"])})
        bar.close()
    return out / "classifier.safetensors"


def save_classifier(model: PlausibilityClassifier, path: str | Path, extra: dict | None = None) -> None:
    """Weights with the config (and `extra`) in the safetensors metadata."""
    from safetensors.torch import save_file

    from invgfx.atomic import atomic_output

    meta = {"config": json.dumps(asdict(model.config)), **{k: json.dumps(v) for k, v in (extra or {}).items()}}
    with atomic_output(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp), metadata=meta)


def load_classifier(path: str | Path) -> tuple[PlausibilityClassifier, dict]:
    """(model in eval mode without gradients, metadata) from a `save_classifier` file."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise DreamPhysicsError(f"{path}: no such classifier file (train one with `invgfx video-prior classifier`)")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        config = ClassifierConfig(**json.loads(meta["config"]))
    except (KeyError, ValueError, OSError) as err:
        raise DreamPhysicsError(f"{path}: not a plausibility classifier ({err}); expected a file written by "
                                "`invgfx video-prior classifier`") from None
    model = PlausibilityClassifier(config)
    model.load_state_dict(load_file(str(path)))
    extra = {k: json.loads(v) for k, v in meta.items() if k != "config"}
    return model.eval().requires_grad_(False), extra


class ClassifierPrior(VideoPrior):
    """Classifier guidance: loss = mean over `samples` draws of -log p(plausible | x_t) =
    softplus(logit), x_t the (T, 3, H, W) video in [0, 1] resized to the classifier's size,
    mapped to [-1, 1] and noised at t uniform in [t_range[0], t_range[1]) x n_timesteps.
    object_class: which class's plausible range is meant (one of the classifier's classes)."""

    def __init__(self, model: PlausibilityClassifier, object_class: str, t_range: tuple[float, float] = (0.02, 0.4),
                 samples: int = 4):
        if object_class not in model.config.classes:
            raise DreamPhysicsError(f"ClassifierPrior: class {object_class!r} is not one the classifier knows: "
                                    f"{', '.join(model.config.classes)}")
        self.model, self.samples = model, samples
        self.label = torch.tensor([model.config.classes.index(object_class)])
        n = model.config.n_timesteps
        self.t_lo, self.t_hi = int(t_range[0] * n), max(int(t_range[1] * n), int(t_range[0] * n) + 1)
        self.alphas = noise_schedule(model.config).alphas_cumprod.float()

    def loss(self, video: Tensor, condition: Condition, generator: torch.Generator | None = None) -> Tensor:
        check_video(video, "ClassifierPrior.loss")
        cfg = self.model.config
        if video.shape[0] != cfg.frames:
            raise DreamPhysicsError(f"the classifier judges {cfg.frames}-frame groups; this video has {video.shape[0]} "
                                    f"frames: use --frames-per-group {cfg.frames}")
        if video.shape[-1] != cfg.size or video.shape[-2] != cfg.size:
            video = F.interpolate(video, size=(cfg.size, cfg.size), mode="area")
        x = (2 * video - 1).transpose(0, 1)[None]
        t = torch.randint(self.t_lo, self.t_hi, (self.samples,), generator=generator)
        x_t = noised(x.expand(self.samples, *x.shape[1:]), t, self.alphas, generator)
        return F.softplus(self.model(x_t, t, self.label.expand(self.samples))).mean()
