"""A plausibility classifier on noised clips, and the prior that guides physics with it.

The generative prior (`model.VideoDenoiser`) learned what the clips look like but hardly which
caption they carry: its denoising error under "... with unrealistic physics" differs from the
plain caption's by 2e-5 of 0.046 at every E (docs/video-prior.md). This model learns that one
bit directly: given a noised 8-frame group x_t = sqrt(a_t) x + sqrt(1 - a_t) eps, the noise
level t and the object class, the logit that the clip's E lies outside its class's plausible
range. `ClassifierPrior` then uses -log p(plausible | x_t) as the loss of `learn-physics`
(classifier guidance, Dhariwal & Nichol 2021): its gradient flows through the classifier, the
renderer and the MPM into the parameters, and is a plausibility signal by construction.

Network: four 3x3x3 convolutions (channels c, 2c, 2c, 2c; strides 1, (1,2,2), 2, 2), each
followed by GroupNorm (8 groups) and SiLU, the class embedding and a linear map of
t / n_timesteps added after the first convolution, mean-pooled to one logit. (Without the norms
it sat at the constant prediction's loss, ln 2, for the first 1000+ steps on the 1000 clips;
with them it leaves it after ~400.) Noise: DDPM `linear` betas (1e-4 to 0.02), t < `t_max`
(the levels SDS uses).

Targets are graded, not 0/1: a clip whose E lies s decades outside its class's plausible range
(s < 0 inside: minus the distance to the nearer end) has target p(implausible) =
sigmoid(slope (s - onset)) (`implausibility`). With 0/1 labels the logit saturated a decade
outside the range, so a plant 100x too soft and one 10x too soft scored alike (+14 and +16,
docs/video-prior.md) and guidance had no slope to follow there; and inside the range the loss
was flat, so E stopped wherever it first looked plausible, often just below the range. With
graded targets the logit grows about `slope` per decade on both sides of the range's ends, and
-log p(plausible) = softplus(logit) is a bowl whose bottom is the middle of the range.
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
from invgfx.dreamphysics.learned.model import noise_schedule, read_model_file
from invgfx.dreamphysics.prior import Condition, VideoPrior, check_video
from invgfx.runlog import open_log


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
    target_slope: float = 3.0
    target_onset: float = 0.0


def decades_outside(E: Tensor, E_range: Tensor) -> Tensor:
    """s = max(log10(lo / E), log10(E / hi)) for E (N,) Pa and E_range (N, 2) Pa: how many
    decades outside the range E lies; negative inside (minus the distance to the nearer end)."""
    lo, hi = E_range.unbind(-1)
    return torch.maximum(torch.log10(lo / E), torch.log10(E / hi))


def implausibility(E: Tensor, E_range: Tensor, config: ClassifierConfig) -> Tensor:
    """(N,) training targets p(implausible) = sigmoid(slope (s - onset)), s = `decades_outside`:
    with the defaults 0.18 in the middle of a decade-wide range, 0.5 at its ends, 0.81 at 3x
    outside, 0.95 at 10x, 0.9975 at 100x."""
    return torch.sigmoid(config.target_slope * (decades_outside(E.double(), E_range.double()) - config.target_onset)).float()


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
        self.norms = nn.ModuleList([nn.GroupNorm(8, conv.out_channels) for conv in self.convs])
        self.head = nn.Linear(2 * c, 1)

    def forward(self, x_t: Tensor, t: Tensor, label: Tensor) -> Tensor:
        cond = self.label(label) + self.level(t.float()[:, None] / self.config.n_timesteps)
        h = self.convs[0](x_t) + cond[:, :, None, None, None]
        for k, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            h = F.silu(norm(h if k == 0 else conv(h)))
        return self.head(h.mean((2, 3, 4)))[:, 0]


def noised(x: Tensor, t: Tensor, alphas: Tensor, generator: torch.Generator | None) -> Tensor:
    """x_t = sqrt(a_t) x + sqrt(1 - a_t) eps for x (B, ...) and t (B,)."""
    a = alphas[t].view(-1, *[1] * (x.ndim - 1))
    return a.sqrt() * x + (1 - a).sqrt() * torch.randn(x.shape, generator=generator)


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """AdamW lr / weight decay, batch of 8-frame groups; held_out: groups (of whole clips, never
    trained on) for the accuracy, the fraction whose logit sign matches target > 0.5."""

    steps: int = 5000
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    held_out: int = 150
    checkpoint_every: int = 250
    seed: int = 0
    threads: int = 1


def train_classifier(clips_dir: str | Path, out: str | Path, config: ClassifierTrainConfig = ClassifierTrainConfig(),
                     progress: bool = True, resume: bool = True) -> Path:
    """Train (or, with `resume` and a checkpoint, resume) on the clips under `clips_dir` (E inside and outside the plausible
    ranges: `video-prior data --implausible-per-class`), towards `implausibility`; writes
    out/classifier.safetensors, out/checkpoint.pt and out/log.csv (step, loss, held-out accuracy
    at checkpoints, seconds). Returns the weights path."""
    from tqdm import tqdm

    from invgfx.dreamphysics.learned.data import load_clips
    from invgfx.dreamphysics.learned.scenarios import CLASSES
    from invgfx.dreamphysics.learned.train import batch_of, training_videos

    torch.set_num_threads(config.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clips = load_clips(clips_dir)
    videos, captions = training_videos(clips)
    repeat = len(videos) // len(clips["label"])  # training_videos gives every group of a clip
    labels, E = torch.cat([clips["label"]] * repeat), torch.cat([clips["E"]] * repeat)
    E_range = torch.tensor([CLASSES[name].E_range for name in CLASSES])[labels]
    outside = decades_outside(E, E_range) > 0
    if outside.all() or not outside.any():
        raise DreamPhysicsError(f"{clips_dir}: the classifier needs clips with E inside and outside the plausible "
                                "ranges; make them with `invgfx video-prior data --implausible-per-class 100`")
    model_config = ClassifierConfig(size=videos.shape[-1], frames=videos.shape[1], classes=list(CLASSES))
    target = implausibility(E, E_range, model_config)
    torch.manual_seed(config.seed)
    model = PlausibilityClassifier(model_config)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    alphas = noise_schedule(model_config).alphas_cumprod.float()
    gen = torch.Generator().manual_seed(config.seed)
    # held out by clip, so no group of a held-out clip is trained on
    n_clips = len(clips["label"])
    n_held = config.held_out // repeat
    if n_clips <= n_held:
        raise DreamPhysicsError(f"{clips_dir}: {n_clips} clips; the classifier holds {n_held} clips out to measure its "
                                f"accuracy and needs more than {n_held} to train on: make more with `invgfx video-prior "
                                f"data` (at least {n_held // len(CLASSES) + 1} per class, --per-class and "
                                "--implausible-per-class together)")
    held = torch.randperm(n_clips, generator=torch.Generator().manual_seed(config.seed + 1))[:n_held]
    is_test = torch.isin(torch.arange(len(videos)) % n_clips, held)
    test, train = is_test.nonzero()[:, 0], (~is_test).nonzero()[:, 0]

    def batch(index, generator):
        x, _ = batch_of(videos, captions, index, generator)  # mirrored at random: plausibility has no handedness
        t = torch.randint(model_config.t_max, (len(index),), generator=generator)
        return noised(x, t, alphas, generator), t

    def accuracy() -> float:
        with torch.no_grad():
            x_t, t = batch(test, torch.Generator().manual_seed(config.seed + 2))
            return float(((model(x_t, t, labels[test]) > 0) == (target[test] > 0.5)).float().mean())

    step, seconds = 0, 0.0
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["generator"])
        step, seconds = state["step"], state["seconds"]
    with open_log(out / "log.csv", ["step", "loss", "held_out_accuracy", "seconds"], step) as f:
        writer = csv.writer(f)
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
    from safetensors.torch import load_file

    _, extra, config = read_model_file(path, "plausibility classifier", "`invgfx video-prior classifier`", ClassifierConfig)
    model = PlausibilityClassifier(config)
    model.load_state_dict(load_file(str(path)))
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

    def score(self, x_t: Tensor, alpha_bar: Tensor) -> Tensor:
        """grad_{x_t} log p(plausible | x_t), (B, 3, T, S, S), for videos noised by any DDPM schedule
        to x_t = sqrt(a) x + sqrt(1 - a) eps with a = alpha_bar: the classifier judges them at the
        level of its own schedule whose alpha_bar is nearest (x_t has the same law there)."""
        t = (self.alphas - alpha_bar).abs().argmin().expand(len(x_t))
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            log_p = -F.softplus(self.model(x, t, self.label.expand(len(x_t))))
            return torch.autograd.grad(log_p.sum(), x)[0]

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
