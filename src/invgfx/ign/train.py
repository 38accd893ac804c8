"""Clamped DC-IGN training (paper 3.1-3.2), the entangled baseline, checkpoints and CSV logs.

DC-IGN step: draw a stored single-factor batch in the ratio azimuth : elevation : light : identity
(paper 1:1:1:10), clamp every latent the batch's factor does not own to its batch mean, and train on
the SGVB loss; the clamped latents get strength * (z - mean) as gradient. Baseline step: the same
network on a random batch of training images as a plain VAE (no clamping).

Every step draws its randomness from (seed, step), so an interrupted run resumed from its last
checkpoint continues exactly as if it had not stopped.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from invgfx.atomic import atomic_output
from invgfx.ign import CLAMPS, FACTORS, LR_SCHEDULES, SPREAD_SHAPES, IGNError
from invgfx.ign.data import PAPER_RATIO, BatchSet, sample_batch_index
from invgfx.ign.model import (DCIGN, IGNConfig, active_mask, invariance_consistency, mirror_consistency, sgvb_loss,
                              spread_consistency)
from invgfx.runlog import open_log

CHECKPOINT = "checkpoint.safetensors"
LOG = "log.csv"
LOG_FIELDS = ["step", "kind", "loss", "recon", "kl"]
DROP_AT, DROP_FACTOR = 5 / 6, 0.3
"""lr_schedule "drop": the rate falls to 0.3x for the last sixth of the steps (measured on the faces:
15000 steps at 5e-4 then 3000 at 1.5e-4 gave the best elevation latent; docs/ign-experiments.md)."""


RECIPES = {
    "default": {"kernel": 3, "steps": 13000, "lr": 8e-4, "lr_schedule": "drop", "clamp": "swap", "ratio": (1, 2, 1.5, 3),
                "mirror_weight": 100.0, "mirror_images": 10, "spread_weight": 300.0, "invariance_weight": 1000.0},
    "paper": {"kernel": 5, "steps": 3000, "lr": 5e-4, "lr_schedule": "constant", "clamp": "mean", "ratio": PAPER_RATIO,
              "mirror_weight": 0.0, "mirror_images": None, "spread_weight": 0.0, "invariance_weight": 0.0},
}
"""Training recipes: the network's kernel and TrainConfig fields. "default" is the best this project
knows for any family, the same for all four procedural ones (docs/ign.md, Results); "paper" is the
paper's procedure (mean clamping, batch kinds 1:1:1:10, constant rate)."""
DCIGN_ONLY = ("clamp", "mirror_weight", "mirror_images", "spread_weight", "invariance_weight")
"""Recipe fields that need named single-factor latents; a baseline VAE takes the paper's values."""
UNTIL_BUDGET = 10**9
"""The step cap of a run given only a time budget (`minutes`)."""


def recipe(name: str, baseline: bool = False, minutes: float | None = None, **given) -> tuple[int, dict]:
    """(kernel, TrainConfig fields) of recipe `name`, with the values in `given` (None: not given) taking
    precedence; a baseline keeps the recipe's network, steps and rates and the paper's DC-IGN-only
    fields; with `minutes` and no steps given, the time alone ends the run."""
    if name not in RECIPES:
        raise IGNError(f"--recipe {name!r}: use one of {', '.join(RECIPES)}")
    fields = dict(RECIPES[name])
    if baseline:
        fields.update({k: RECIPES["paper"][k] for k in DCIGN_ONLY})
    if minutes is not None and given.get("steps") is None:
        fields["steps"] = UNTIL_BUDGET
    fields.update({k: v for k, v in given.items() if v is not None})
    if not fields["mirror_weight"] and given.get("mirror_images") is None:
        fields["mirror_images"] = None  # the recipe's subset size belongs to its mirror term, now off
    kernel = fields.pop("kernel")
    return kernel, dict(fields, minutes=minutes)


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser as the original code (Adam, lr 5e-4, betas 0.9/0.99, eps 1e-8, batch 20 from the data);
    strength: invariance gradient scale (paper ~1/100); kl_weight: weight of the KL term against the
    reconstruction summed over pixels (None: paper_kl_weight of the image size, 0.18 at 64 px; 1: the plain
    bound); ratio: batch kinds azimuth:elevation:light:identity; baseline: train as a plain VAE on random
    batches instead; mirror: flip each drawn batch left-right with probability 1/2 (for left-right symmetric
    objects a flipped render at (azimuth, elevation, light) is the render at (-azimuth, elevation, -light),
    so a flipped single-factor batch is another single-factor batch: twice the distinct batches for free);
    mirror_weight: weight of `mirror_consistency` between each batch's extrinsic code and its flipped
    images' (DC-IGN only; 0: off, the paper);
    mirror_images: how many images of each batch, a random subset drawn anew each step (`mirror_subset`;
    a user's batches may be sorted by factor), are flipped and encoded for that term, which is scaled by
    B / mirror_images so that the weight means the same (None: all B; the flipped encoder pass nearly
    halves the steps/s with all 20);
    spread_weight: weight of `spread_consistency` of the varied latent in azimuth, elevation and light
    batches (DC-IGN only; 0: off, the paper); spread_shape: its form, "std" or "uniform";
    invariance_weight: weight of `invariance_consistency` of the pose/light latents each batch holds
    fixed (DC-IGN only; 0: off, the paper's own pull being `strength`);
    clamp: "mean" (the paper: the decoder gets the batch mean of the latents a batch does not vary) or
    "swap" (it gets another image's, with their reconstruction gradient; see model.swap_latents);
    lr_schedule: "constant" (the original code), "cosine" (lr * (1 + cos(pi * progress)) / 2, which
    ends the run at a small step size instead of wherever the last few noisy updates left the weights)
    or "drop" (lr for the first DROP_AT of the run, then lr * DROP_FACTOR: the full rate for as long
    as the code is still learning, a quieter end);
    minutes: a wall-clock budget for the training steps (None: none). With it the run stops when the
    budget is spent or after `steps`, whichever comes first, and the schedule's progress is the
    fraction of the budget spent, so the schedule is stretched to fit the steps this machine manages."""

    steps: int = 3000
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.99)
    eps: float = 1e-8
    strength: float = 0.01
    kl_weight: float | None = None
    ratio: tuple[float, float, float, float] = PAPER_RATIO
    baseline: bool = False
    mirror: bool = False
    mirror_weight: float = 0.0
    mirror_images: int | None = None
    spread_weight: float = 0.0
    spread_shape: str = "std"
    invariance_weight: float = 0.0
    clamp: str = "mean"
    lr_schedule: str = "constant"
    checkpoint_every: int = 500
    seed: int = 0
    minutes: float | None = None

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise IGNError(f"steps {self.steps} (--steps): train for at least 1 step")
        if self.checkpoint_every < 1:
            raise IGNError(f"checkpoint_every {self.checkpoint_every} (--checkpoint-every): use at least 1 step")
        if self.minutes is not None and not self.minutes > 0:
            raise IGNError(f"minutes {self.minutes} (--minutes): give a positive training budget")
        if self.lr_schedule not in LR_SCHEDULES:
            raise IGNError(f"lr_schedule {self.lr_schedule!r}: use one of {', '.join(LR_SCHEDULES)}")
        if self.spread_shape not in SPREAD_SHAPES:
            raise IGNError(f"spread_shape {self.spread_shape!r} (--spread-shape): use one of {', '.join(SPREAD_SHAPES)}")
        if self.clamp not in CLAMPS:
            raise IGNError(f"clamp {self.clamp!r}: use one of {', '.join(CLAMPS)}")
        if self.baseline and self.clamp != "mean":
            raise IGNError(f"clamp {self.clamp!r} (--clamp): the baseline clamps nothing; use it for DC-IGN only")
        if self.baseline and self.mirror_weight:
            raise IGNError("mirror_weight (--mirror-consistency): the baseline's latents have no named azimuth or "
                           "light to negate; use it for DC-IGN only")
        if self.mirror_images is not None and self.mirror_images < 1:
            raise IGNError(f"mirror_images {self.mirror_images} (--mirror-images): use at least 1 image per batch")
        if self.mirror_images is not None and not self.mirror_weight:
            raise IGNError("mirror_images (--mirror-images) chooses the images of --mirror-consistency, which is off; "
                           "give --mirror-consistency WEIGHT too")
        if self.baseline and self.spread_weight:
            raise IGNError("spread_weight (--spread-consistency): the baseline's random batches vary every factor "
                           "at once; use it for DC-IGN only")
        if self.baseline and self.invariance_weight:
            raise IGNError("invariance_weight (--invariance-consistency): the baseline's random batches hold no "
                           "factor fixed; use it for DC-IGN only")

    def kl_weight_at(self, image_size: int) -> float:
        return paper_kl_weight(image_size) if self.kl_weight is None else self.kl_weight

    def lr_at(self, step: int) -> float:
        """Learning rate of step `step` (0-based) of cfg.steps."""
        return self.lr_at_progress(step / self.steps)

    def lr_at_progress(self, progress: float) -> float:
        """Learning rate once `progress` (in [0, 1]) of the run is done: steps, or seconds of `minutes`."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        # rounded as a step count would be, so that a run of N steps drops at exactly round(DROP_AT * N)
        if self.lr_schedule == "drop" and progress >= round(DROP_AT * self.steps) / self.steps:
            return self.lr * DROP_FACTOR
        return self.lr


def paper_kl_weight(image_size: int) -> float:
    """(image_size / 150)^2: the paper's SGVB sums the reconstruction over 150x150 pixels, so at 64x64
    the plain bound weighs the KL 5.5x more against each pixel than the paper's network did (measured:
    with weight 1 the elevation latent's reconstruction gradient is as small as its KL gradient)."""
    return (image_size / IGNConfig.paper().image_size) ** 2


def to_tensor(images: np.ndarray, device="cpu") -> torch.Tensor:
    """uint8 (..., S, S) -> float (N, 1, S, S) in [0, 1]."""
    x = torch.tensor(images, device=device).float().div_(255)  # a copy: cached arrays are read-only
    return x.reshape(-1, 1, *x.shape[-2:])


def draw_batch(batches: BatchSet, cfg: TrainConfig, step: int) -> tuple[np.ndarray, str]:
    """The images (B, S, S) of step `step` and the factor they vary ("random" for the baseline)."""
    rng = np.random.default_rng([cfg.seed, step])
    if cfg.baseline:
        M, B = batches.images.shape[:2]
        idx = rng.choice(M * B, B, replace=False)
        images, kind = batches.images.reshape(M * B, *batches.images.shape[2:])[idx], "random"
        flip = rng.random(B) < 0.5 if cfg.mirror else np.zeros(B, bool)  # a plain VAE: each image on its own
    else:
        m = sample_batch_index(batches.kinds, rng, cfg.ratio)
        images, kind = batches.images[m], FACTORS[batches.kinds[m]]
        flip = np.full(len(images), cfg.mirror and rng.random() < 0.5)  # the whole batch, so one factor still varies
    return np.where(flip[:, None, None], images[..., ::-1], images), kind


def train_step(model: DCIGN, opt: torch.optim.Optimizer, x: torch.Tensor, kind: str, cfg: TrainConfig,
               generator: torch.Generator) -> dict[str, float]:
    """One SGVB step on x (B, 1, S, S); clamped unless kind is "random". Losses are per image."""
    active = None if kind == "random" else active_mask(kind, model.config).to(x.device)
    logits, mu, logvar, _ = model(x, active, cfg.strength, generator, cfg.clamp)
    loss, recon, kl = sgvb_loss(logits, x, mu, logvar, model.config.likelihood,
                                kl_weight=cfg.kl_weight_at(x.shape[-1]))
    if cfg.mirror_weight:
        k = min(cfg.mirror_images or len(x), len(x))
        idx = mirror_subset(generator.initial_seed(), len(x), k).to(x.device)
        mu_flipped = model.encode(x[idx].flip(-1))[0]
        loss = loss + cfg.mirror_weight * len(x) / k * mirror_consistency(mu[idx], mu_flipped, model.config.n_extrinsic)
    if cfg.spread_weight and kind in FACTORS[:model.config.n_extrinsic]:
        loss = loss + cfg.spread_weight * spread_consistency(mu[:, FACTORS.index(kind)], cfg.spread_shape)
    if cfg.invariance_weight and active is not None:
        loss = loss + cfg.invariance_weight * invariance_consistency(mu, active, model.config.n_extrinsic)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    n = x.shape[0]
    return {"kind": kind, "loss": loss.item() / n, "recon": recon.item() / n, "kl": kl.item() / n}


def mirror_subset(seed: int, n: int, k: int) -> torch.Tensor:
    """The k of n batch images (sorted indices) a step with noise seed `seed` flips for the mirror term:
    random, because a user's batches may be sorted by their factor, and a function of the seed alone,
    so resumed runs draw the same ones."""
    if k >= n:
        return torch.arange(n)
    return torch.from_numpy(np.sort(np.random.default_rng([seed, 1]).choice(n, k, replace=False)))


class ThreadPicker:
    """Keeps torch on whichever of 1 and `threads` threads trains faster now, by timing windows of steps.

    On a shared 2-core machine two threads can run 2.3x slower than one (their spin-waiting
    fights the other jobs; measured with one busy process beside: 5.5 against 12.5 steps/s), and 1.7x
    faster when the machine is quiet (21 against 12.4). Every `every` steps the next `window` steps run
    on each count in turn, and the faster count keeps the rest."""

    def __init__(self, threads: int, window: int = 20, every: int = 500, clock=time.perf_counter):
        self.counts = (threads, 1) if threads > 1 else (threads,)
        self.window, self.every, self.clock = window, every, clock
        self.timed: dict[int, float] = {}
        self.chosen = threads
        self._started = 0.0

    def count_at(self, i: int) -> int:
        """Threads for the i-th step of this run (0-based, counted from the start or resume)."""
        phase = i % self.every
        probing = len(self.counts) > 1 and phase < self.window * len(self.counts)
        return self.counts[phase // self.window] if probing else self.chosen

    def before(self, i: int) -> None:
        torch.set_num_threads(self.count_at(i))
        self._started = self.clock()

    def after(self, i: int) -> None:
        phase = i % self.every
        if len(self.counts) == 1 or phase >= self.window * len(self.counts):
            return
        n = self.counts[phase // self.window]
        if phase % self.window == 0:
            self.timed[n] = 0.0
        if phase % self.window > 0:  # the first step after a switch pays for waking the threads
            self.timed[n] += self.clock() - self._started
        if phase == self.window * len(self.counts) - 1:
            self.chosen = min(self.counts, key=lambda c: self.timed[c])


def make_optimizer(model: DCIGN, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)


def train(model: DCIGN, batches: BatchSet, cfg: TrainConfig, out_dir: str | Path, meta: dict | None = None,
          resume: bool = True, progress: bool = True, threads: int | None = None) -> DCIGN:
    """Train `model` for cfg.steps steps (or cfg.minutes of wall clock, whichever ends first), writing
    out_dir/checkpoint.safetensors every cfg.checkpoint_every steps and at the end, and one log.csv row
    per step, flushed as it is written. With `resume`, an existing checkpoint in out_dir is continued
    (a timed run with the time it had left). `meta` (JSON-able) is stored in the checkpoint.
    `threads` > 1: torch runs on 1 or `threads` threads, whichever `ThreadPicker` finds faster."""
    from tqdm import tqdm

    from invgfx.ign.evaluate import calibrate

    if batches.images.shape[-1] != model.config.image_size:
        raise IGNError(f"training images are {batches.images.shape[-1]} px but the model expects "
                       f"{model.config.image_size}; regenerate the dataset with --size {model.config.image_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    opt = make_optimizer(model, cfg)
    start, spent = 0, 0.0
    if resume and (out / CHECKPOINT).exists():
        saved = load_state(out / CHECKPOINT, model, opt)
        start, spent = saved["step"], saved.get("train_seconds", 0.0)
    cfg = replace(cfg, kl_weight=cfg.kl_weight_at(model.config.image_size))  # the checkpoint records the value used
    meta = dict(meta or {}, train_config=asdict(cfg))
    budget = None if cfg.minutes is None else 60.0 * cfg.minutes
    picker = ThreadPicker(threads) if threads and device.type == "cpu" else None

    def save(step, seconds):
        model.eval()
        calibration = calibrate(model, batches, cfg.baseline)
        model.train()
        save_checkpoint(out / CHECKPOINT, model, opt, dict(meta, step=step, train_seconds=seconds,
                                                           calibration=calibration))

    def progress_of(step, seconds):
        return step / cfg.steps if budget is None else max(step / cfg.steps, seconds / budget)

    model.train()
    step, began = start, time.perf_counter() - spent
    with open_log(out / LOG, LOG_FIELDS, start) as fh:
        writer = csv.DictWriter(fh, LOG_FIELDS)
        if budget is None:
            bar = tqdm(total=cfg.steps, initial=start, desc="DC-IGN" if not cfg.baseline else "baseline VAE",
                       disable=not progress, unit="step")
        else:
            bar = tqdm(total=round(budget), initial=round(spent), disable=not progress, unit="s",
                       desc=f"DC-IGN ({cfg.minutes:g} min)" if not cfg.baseline else f"baseline VAE ({cfg.minutes:g} min)")
        while step < cfg.steps and (budget is None or time.perf_counter() - began < budget):
            images, kind = draw_batch(batches, cfg, step)
            gen = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + step)
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at_progress(progress_of(step, time.perf_counter() - began))
            if picker:
                picker.before(step - start)
            row = train_step(model, opt, to_tensor(images, device), kind, cfg, gen)
            if picker:
                picker.after(step - start)
            step += 1
            writer.writerow({"step": step, **{k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()}})
            fh.flush()  # a log another program can follow while the run goes on
            if budget is None:
                bar.update(1)
            else:
                bar.update(min(round(time.perf_counter() - began), round(budget)) - bar.n)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{row['loss']:.1f}", step=step, threads=torch.get_num_threads())
            if step % cfg.checkpoint_every == 0 and step < cfg.steps:
                save(step, time.perf_counter() - began)
        bar.close()
    if step > start or not (out / CHECKPOINT).exists():
        save(step, time.perf_counter() - began)
    model.eval()
    return model


def save_checkpoint(path: Path, model: DCIGN, opt: torch.optim.Optimizer | None, meta: dict) -> None:
    """safetensors with the weights ("model.*"), the Adam moments ("optim.*") and JSON metadata
    (model config, `meta`), written atomically."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    groups = []
    if opt is not None:
        state = opt.state_dict()
        for pid, s in state["state"].items():
            for name, value in s.items():
                tensors[f"optim.{pid}.{name}"] = torch.as_tensor(value).cpu().contiguous()
        groups = state["param_groups"]
    metadata = {"model_config": json.dumps(model.config.to_dict()), "meta": json.dumps(meta),
                "param_groups": json.dumps(groups)}
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def _read(path: Path) -> tuple[dict, dict]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    if not Path(path).exists():
        raise IGNError(f"--checkpoint {path}: no such file (train one with `invgfx ign train`)")
    try:
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise IGNError(f"{path}: not a safetensors checkpoint ({err})") from None
    if "model_config" not in metadata:
        raise IGNError(f"{path}: a safetensors file without the 'model_config' of an invgfx ign checkpoint")
    return tensors, metadata


def load_state(path: Path, model: DCIGN, opt: torch.optim.Optimizer | None = None) -> dict:
    """Load weights (and optimiser moments) into `model`/`opt`; returns the stored meta."""
    tensors, metadata = _read(path)
    saved = IGNConfig.from_dict(json.loads(metadata["model_config"]))
    if saved != model.config:
        raise IGNError(f"{path}: checkpoint model config {saved} differs from the requested {model.config}")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if opt is not None and not any(k.startswith("optim.") for k in tensors):
        raise IGNError(f"{path}: an inference checkpoint (invgfx ign export) without optimiser state; training "
                       "cannot resume from it: use another --out, or --restart")
    if opt is not None:
        state: dict = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, pid, name = k.split(".", 2)
                state.setdefault(int(pid), {})[name] = v
        opt.load_state_dict({"state": state, "param_groups": json.loads(metadata["param_groups"])})
    return json.loads(metadata["meta"])


def load_checkpoint(path: str | Path, device="cpu") -> tuple[DCIGN, dict]:
    """(model in eval mode, meta) from a checkpoint written by `train`."""
    _, metadata = _read(Path(path))
    model = DCIGN(IGNConfig.from_dict(json.loads(metadata["model_config"]))).to(device)
    meta = load_state(Path(path), model)
    return model.eval(), meta
