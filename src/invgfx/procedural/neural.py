"""Learned rules, the deep-learning half of the talk: a pix2pix-style 3D translator from a
coarse massing (occupancy only) to a labelled building, trained on procedurally generated
(massing, building) pairs.

Generator: a small 3D U-Net (two down-samplings, skip connections, dropout in the bottleneck).
Discriminator: a 3D PatchGAN that judges (massing, labels) pairs patch by patch.
Loss: cross-entropy to the procedural ground truth (voxels inside the massing weighted
`inside_weight` times, since air dominates the grid) + `adv_weight` x adversarial (BCE)
loss, Adam(lr 2e-4, beta1 0.5) as in pix2pix. Tensors: massing (B, 2, X, Y, Z) = occupancy and
height z / Z; labels (B, X, Y, Z) int64; logits (B, L, X, Y, Z). X, Y, Z divisible by 4.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .buildings import generate_building, random_params
from .errors import ProceduralError
from .modules import EMPTY, GROUND, NAMES, occupancy


@dataclass
class TrainConfig:
    """shape: training grid (X, Y, Z), each a multiple of 4; buildings are drawn to fit it.
    n_train: procedural buildings in the training set. steps, batch, lr: optimisation.
    adv_weight: weight of the adversarial term beside cross-entropy; inside_weight: weight of
    massing voxels in the cross-entropy. channels: U-Net width.
    checkpoint_every: steps between checkpoints (training resumes from the last one)."""

    shape: tuple[int, int, int] = (16, 16, 12)
    n_train: int = 256
    steps: int = 1500
    batch: int = 8
    lr: float = 2e-4
    adv_weight: float = 0.05
    inside_weight: float = 10.0
    channels: int = 16
    checkpoint_every: int = 250
    seed: int = 0


def _fit(grid: np.ndarray, shape) -> np.ndarray:
    out = np.full(shape, EMPTY, np.int64)
    out[:, :, 0] = GROUND
    X, Y, Z = (min(a, b) for a, b in zip(grid.shape, shape))
    out[:X, :Y, :Z] = grid[:X, :Y, :Z]
    return out


def building_pairs(count: int, shape, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` procedural buildings that fit `shape`: (massing (N, X, Y, Z) bool,
    labels (N, X, Y, Z) int64). Different seeds give disjoint parameter draws in practice."""
    rng = np.random.default_rng(seed)
    X, Y, Z = shape
    labels = []
    while len(labels) < count:
        p = random_params(rng, max_width=X - 4, max_depth=Y - 6, max_storeys=max(1, Z - 7))
        g = generate_building(p, seed=int(rng.integers(1 << 31)))
        if all(a <= b for a, b in zip(g.shape, shape)):
            labels.append(_fit(g, shape))
    labels = np.stack(labels)
    return occupancy(labels), labels


def massing_input(massing: np.ndarray) -> torch.Tensor:
    """(B, X, Y, Z) bool -> (B, 2, X, Y, Z) float: occupancy and normalised height."""
    m = torch.as_tensor(np.asarray(massing), dtype=torch.float32)
    Z = m.shape[-1]
    z = torch.linspace(0, 1, Z).expand_as(m)
    return torch.stack([m, z], 1)


def _block(cin, cout):
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.LeakyReLU(0.2), nn.Conv3d(cout, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.LeakyReLU(0.2))


class UNet3D(nn.Module):
    """(B, 2, X, Y, Z) -> (B, L, X, Y, Z) logits; two 2x down/up-samplings with skips."""

    def __init__(self, n_labels: int, c: int = 16):
        super().__init__()
        self.enc1, self.enc2, self.mid = _block(2, c), _block(c, 2 * c), _block(2 * c, 4 * c)
        self.drop = nn.Dropout3d(0.1)
        self.up2, self.dec2 = nn.ConvTranspose3d(4 * c, 2 * c, 2, stride=2), _block(4 * c, 2 * c)
        self.up1, self.dec1 = nn.ConvTranspose3d(2 * c, c, 2, stride=2), _block(2 * c, c)
        self.head = nn.Conv3d(c, n_labels, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool3d(e1, 2))
        m = self.drop(self.mid(F.max_pool3d(e2, 2)))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


class PatchDiscriminator3D(nn.Module):
    """(B, 2 + L, X, Y, Z) massing + label probabilities -> (B, 1, X/4, Y/4, Z/4) real/fake
    logits, one per overlapping patch (receptive field about 10 voxels)."""

    def __init__(self, n_labels: int, c: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(2 + n_labels, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv3d(c, 2 * c, 4, stride=2, padding=1), nn.GroupNorm(4, 2 * c), nn.LeakyReLU(0.2),
            nn.Conv3d(2 * c, 1, 3, padding=1),
        )

    def forward(self, x):
        return self.net(x)


def _checkpoint_path(out_dir: Path) -> Path:
    return out_dir / "checkpoint.pt"


def train(cfg: TrainConfig, out_dir, device: str = "cpu", resume: bool = True, progress: bool = True) -> dict:
    """Train the translator; writes `out_dir/checkpoint.pt` (every `checkpoint_every` steps
    and at the end, atomically) and `out_dir/config.json`. With `resume`, continues from an
    existing checkpoint (its config wins). Returns {"step", "ce", "adv", "seconds"}."""
    if any(s % 4 for s in cfg.shape):
        raise ProceduralError(f"shape {cfg.shape}: every size must be a multiple of 4 (two 2x down-samplings)")
    if min(cfg.shape[:2]) < 11 or cfg.shape[2] < 8:
        raise ProceduralError(f"shape {cfg.shape}: use at least 12 x 12 x 8 so that a building fits")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = _checkpoint_path(out_dir)
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False) if resume and ckpt_path.exists() else None
    if state is not None:
        cfg = TrainConfig(**{**asdict(cfg), **state["config"], "steps": cfg.steps, "shape": tuple(state["config"]["shape"])})
    torch.manual_seed(cfg.seed)
    L = len(NAMES)
    gen, disc = UNet3D(L, cfg.channels).to(device), PatchDiscriminator3D(L, cfg.channels).to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    step = 0
    if state is not None:
        gen.load_state_dict(state["generator"])
        disc.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        step = state["step"]
    massing, labels = building_pairs(cfg.n_train, cfg.shape, cfg.seed)
    x_all, y_all = massing_input(massing), torch.as_tensor(labels)
    (out_dir / "config.json").write_text(json.dumps({**asdict(cfg), "names": list(NAMES)}, indent=1))
    gen_rng = torch.Generator().manual_seed(cfg.seed + step)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="train translator", unit="step")
    t0, ce_v, adv_v = time.perf_counter(), float("nan"), float("nan")
    done = {"step": step}
    try:
        step, ce_v, adv_v = _train_steps(cfg, done, gen, disc, opt_g, opt_d, x_all, y_all, gen_rng, device, L, bar,
                                         ckpt_path)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: save, so that a rerun resumes from the last finished step
        # (the weights may hold half of the interrupted step: a resumed run is close to, not equal to, one run)
        _save_checkpoint(ckpt_path, gen, disc, opt_g, opt_d, done["step"], cfg)
        raise
    if bar is not None:
        bar.close()
    if state is not None and step == state["step"] and not ckpt_path.exists():
        _save_checkpoint(ckpt_path, gen, disc, opt_g, opt_d, step, cfg)
    return {"step": step, "ce": ce_v, "adv": adv_v, "seconds": time.perf_counter() - t0}


def _train_steps(cfg, done: dict, gen, disc, opt_g, opt_d, x_all, y_all, gen_rng, device, L, bar, ckpt_path):
    """The training loop from done["step"] to cfg.steps, keeping done["step"] (the last finished
    step) up to date; -> (step, last ce, last adv)."""
    ce_v = adv_v = float("nan")
    step = done["step"]
    while step < cfg.steps:
        idx = torch.randint(len(x_all), (cfg.batch,), generator=gen_rng)
        x, y = x_all[idx].to(device), y_all[idx].to(device)
        logits = gen(x)
        fake = torch.cat([x, logits.softmax(1)], 1)
        real = torch.cat([x, F.one_hot(y, L).permute(0, 4, 1, 2, 3).float()], 1)
        # discriminator: real pairs -> 1, generated pairs -> 0
        d_real, d_fake = disc(real), disc(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        # generator: match the ground truth and fool the discriminator
        w = 1 + (cfg.inside_weight - 1) * x[:, 0]
        ce = (F.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum()
        d_gen = disc(fake)
        adv = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        opt_g.zero_grad()
        (ce + cfg.adv_weight * adv).backward()
        opt_g.step()
        step += 1
        done["step"] = step
        ce_v, adv_v = ce.item(), adv.item()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(ce=f"{ce_v:.3f}", adv=f"{adv_v:.2f}")
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            _save_checkpoint(ckpt_path, gen, disc, opt_g, opt_d, step, cfg)
    return step, ce_v, adv_v


def _save_checkpoint(path: Path, gen, disc, opt_g, opt_d, step: int, cfg: TrainConfig) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"generator": gen.state_dict(), "discriminator": disc.state_dict(), "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(), "step": step, "config": asdict(cfg), "names": list(NAMES)}, tmp)
    tmp.replace(path)


def load_translator(model_dir, device: str = "cpu") -> UNet3D:
    """The trained generator from `model_dir/checkpoint.pt`, in eval mode."""
    path = _checkpoint_path(Path(model_dir))
    if not path.exists():
        raise ProceduralError(f"{model_dir}: no checkpoint.pt; train one with `invgfx rules train-neural --out {model_dir}`")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("names") != list(NAMES):
        raise ProceduralError(f"{path}: trained for other module labels than this version's catalogue; retrain it")
    gen = UNet3D(len(NAMES), state["config"]["channels"])
    gen.load_state_dict(state["generator"])
    return gen.to(device).eval()


@torch.no_grad()
def translate(gen: UNet3D, massing: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Massing (X, Y, Z) bool -> labels (X, Y, Z) int64. Any size: padded to multiples of 4.
    Voxels outside the massing become empty (ground at z = 0); inside, the most likely
    building module."""
    massing = np.asarray(massing, bool)
    if massing.ndim != 3:
        raise ProceduralError(f"massing must be a 3D occupancy grid (X, Y, Z); got shape {massing.shape}")
    pad = [(0, -s % 4) for s in massing.shape]
    x = massing_input(np.pad(massing, pad)[None]).to(device)
    logits = gen(x)[0].cpu()
    X, Y, Z = massing.shape
    logits = logits[:, :X, :Y, :Z]
    logits[[EMPTY, GROUND]] = -torch.inf  # inside the massing: building modules only
    out = logits.argmax(0).numpy().astype(np.int64)
    out[~massing] = EMPTY
    out[:, :, 0][~massing[:, :, 0]] = GROUND
    return out
