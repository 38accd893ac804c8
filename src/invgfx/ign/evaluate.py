"""The paper's evidence as numbers, on identities the network never saw.

- calibration: which latent carries each extrinsic factor (DC-IGN: z_k; entangled baseline: the
  latent with the largest variance over batches varying only that factor, as paper 4.1.1) and a
  linear map factor -> latent fitted on the training batches, so a latent can be set from an angle;
- R^2 of that latent against the true factor over the test grid (paper figure 6);
- novel-view error: encode a test image, set the factor's latent to the target angle, decode, MSE
  against the true render at the target (paper figure 7), beside the error of just copying the input;
- reconstruction MSE per pixel (paper, chairs: 2.7722e-4 at 150x150);
- the standard disentanglement metrics and group checks for the intrinsic block.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from invgfx.ign import FACTORS, IGNError
from invgfx.ign.data import BatchSet, TestGrid
from invgfx.ign.metrics import FactorGrid, all_metrics
from invgfx.ign.model import DCIGN
from invgfx.ign.train import to_tensor

EXTRINSIC = FACTORS[:3]
GRID_AXES = ("identity", "azimuth", "elevation", "light")  # the axes of TestGrid.images (I, A, E, L, S, S)


def r_squared(factor: np.ndarray, latent: np.ndarray) -> float:
    """R^2 of a latent against its factor (paper figure 6): the squared correlation of the (N,) arrays."""
    return float(np.corrcoef(factor, latent)[0, 1] ** 2)


def variance_shares(z: np.ndarray) -> dict[str, float]:
    """How the variance of one latent z (I, A, E, L) over the test grid splits: the share of each
    axis's main effect ("azimuth", ...) and of each two-way interaction ("azimuth x light", ...);
    two-way ANOVA terms of a full factorial grid, so the shares sum to 1 minus the higher interactions.
    A latent that codes its own factor alone has that factor's share 1."""
    total, centred = z.var(), z - z.mean()
    main = {a: centred.mean(axis=tuple(b for b in range(4) if b != a), keepdims=True) for a in range(4)}
    shares = {GRID_AXES[a]: float(np.broadcast_to(m, z.shape).var() / total) for a, m in main.items()}
    for a, b in itertools.combinations(range(4), 2):
        pair = centred.mean(axis=tuple(c for c in range(4) if c not in (a, b)), keepdims=True) - main[a] - main[b]
        shares[f"{GRID_AXES[a]} x {GRID_AXES[b]}"] = float(np.broadcast_to(pair, z.shape).var() / total)
    return shares


@torch.no_grad()
def encode(model: DCIGN, images: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Posterior means (N, n_latent) of uint8 images (..., S, S)."""
    x = to_tensor(images, next(model.parameters()).device)
    return torch.cat([model.encode(x[i:i + chunk])[0] for i in range(0, len(x), chunk)]).cpu().numpy()


@torch.no_grad()
def decode(model: DCIGN, z: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Images (N, S, S) float in [0, 1] from codes (N, n_latent)."""
    zt = torch.as_tensor(z, dtype=torch.float32, device=next(model.parameters()).device)
    return torch.cat([model.decode(zt[i:i + chunk]) for i in range(0, len(zt), chunk)])[:, 0].cpu().numpy()


def calibrate(model: DCIGN, batches: BatchSet, baseline: bool, max_batches: int = 40) -> dict[str, dict]:
    """factor -> {latent, slope, intercept, r2, lo, hi}: latent ~ slope * factor + intercept on the
    training batches varying that factor, whose values span [lo, hi] (rad). Factors without such
    batches (or unknown or constant values) are left out."""
    out = {}
    for k, name in enumerate(EXTRINSIC[:model.config.n_extrinsic]):
        sel = np.flatnonzero(batches.kinds == k)[:max_batches]
        f = batches.factors[sel, :, k]
        if len(sel) == 0 or np.isnan(f).any() or np.ptp(f) == 0:
            continue
        mu = encode(model, batches.images[sel]).reshape(len(sel), -1, model.config.n_latent)
        j = int(np.argmax(mu.var(1).mean(0))) if baseline else k
        slope, intercept = np.polyfit(f.ravel(), mu[:, :, j].ravel(), 1)
        r = np.corrcoef(f.ravel(), mu[:, :, j].ravel())[0, 1]
        out[name] = {"latent": j, "slope": float(slope), "intercept": float(intercept), "r2": float(r**2),
                     "lo": float(f.min()), "hi": float(f.max())}
    return out


def outside_training(name: str, cal: dict, value: float) -> str | None:
    """A warning when `value` (rad) lies outside the range factor `name` was trained on
    (calibrations from before the range was kept say nothing), else None."""
    if "lo" not in cal or cal["lo"] - 1e-6 <= value <= cal["hi"] + 1e-6:
        return None
    return (f"--{name} {math.degrees(value):g}: outside the {math.degrees(cal['lo']):g} to {math.degrees(cal['hi']):g} "
            f"degrees the checkpoint was trained on; the decoder extrapolates there and the picture may not follow")


def set_factor(z: np.ndarray, cal: dict, value: np.ndarray | float) -> np.ndarray:
    """Codes (N, D) with the calibrated latent set to represent factor `value` (rad)."""
    z = z.copy()
    z[:, cal["latent"]] = cal["slope"] * np.asarray(value) + cal["intercept"]
    return z


def novel_view_error(model: DCIGN, grid: TestGrid, mu: np.ndarray, k: int, cal: dict,
                     rng: np.random.Generator, n_pairs: int = 1500) -> tuple[float, float, float]:
    """(re-render MSE, copy-the-input MSE, unchanged-code MSE) per pixel over random (source, target)
    grid pairs that differ only in factor k (0 azimuth, 1 elevation, 2 light). mu (I, A, E, L, D).
    The unchanged code is the source's decoded as it is: a blurred source, the score a re-render that
    ignores the target gets, which a useful one beats by a margin."""
    shape = grid.images.shape[:4]
    if shape[1 + k] < 2:
        raise IGNError(f"the test grid has a single {FACTORS[k]} value; novel views need at least 2")
    src = np.stack([rng.integers(0, s, n_pairs) for s in shape], 1)
    tgt = src.copy()
    shift = rng.integers(1, shape[1 + k], n_pairs)  # a different value of factor k
    tgt[:, 1 + k] = (src[:, 1 + k] + shift) % shape[1 + k]
    values = [grid.azimuths, grid.elevations, grid.lights][k]
    z = set_factor(mu[tuple(src.T)], cal, values[tgt[:, 1 + k]])
    truth = grid.images[tuple(tgt.T)].astype(np.float32) / 255
    source = grid.images[tuple(src.T)].astype(np.float32) / 255
    unchanged = decode(model, mu[tuple(src.T)])
    return (float(((decode(model, z) - truth) ** 2).mean()), float(((source - truth) ** 2).mean()),
            float(((unchanged - truth) ** 2).mean()))


def thin_part_errors(recon: np.ndarray, full: np.ndarray, body: np.ndarray, threshold: float = 0.05) -> dict[str, float]:
    """How well reconstructions keep thin parts. recon, full, body (N, S, S) in [0, 1]: the model's
    reconstructions of `full`, and the same views rendered without the thin parts. Over the pixels the
    thin parts change by more than `threshold`: thin_recon_mse, the reconstruction's MSE there (beside
    recon_mse over all pixels); thin_kept, the fraction of them the reconstruction puts nearer the
    true image than the image without thin parts (1: every thin part kept; 0: all dropped)."""
    mask = np.abs(full - body) > threshold
    if not mask.any():
        raise IGNError("thin_part_errors: no pixel shows a thin part")
    return {"thin_recon_mse": float(((recon - full)[mask] ** 2).mean()),
            "thin_kept": float((np.abs(recon - full) < np.abs(recon - body))[mask].mean())}


def evaluate(model: DCIGN, grid: TestGrid, calibration: dict, seed: int = 0, metric_points: int = 2000,
             without_thin: np.ndarray | None = None, status=lambda stage: None) -> dict:
    """Every number of the benchmark table for one model on the test grid (see module docstring);
    `metric_points` sizes the disentanglement metrics (see `all_metrics`; 0 skips them);
    `without_thin` (I, A, S, S) uint8: the grid's views at its middle elevation and light rendered without
    the thin parts (`data.thin_part_views`), which adds `thin_part_errors`. status(stage): called with
    the name of each stage as it begins (a status line for a person waiting)."""
    model.eval()
    I, A, E, L, S, _ = grid.images.shape
    status(f"encoding and decoding {grid.images[..., 0, 0].size} test views")
    mu = encode(model, grid.images).reshape(I, A, E, L, -1)
    flat = mu.reshape(-1, mu.shape[-1])
    recon = decode(model, flat)
    out = {"recon_mse": float(((recon - grid.images.reshape(-1, S, S) / 255.0) ** 2).mean())}
    values = grid.factor_values().reshape(-1, 4)
    rng = np.random.default_rng([seed, 11])
    status("R^2 and novel views")
    for k, name in enumerate(EXTRINSIC):
        if name not in calibration or grid.images.shape[1 + k] < 2:
            continue
        cal = calibration[name]
        out[f"r2_{name}"] = r_squared(values[:, k], flat[:, cal["latent"]])
        out[f"novel_{name}"], out[f"copy_{name}"], out[f"unchanged_{name}"] = novel_view_error(model, grid, mu, k, cal, rng)
    if without_thin is not None:
        middle = recon.reshape(I, A, E, L, S, S)[:, :, E // 2, L // 2]
        out.update(thin_part_errors(middle, grid.images[:, :, E // 2, L // 2] / 255.0, without_thin / 255.0))
    used = sorted({c["latent"] for c in calibration.values()})
    intrinsic = np.setdiff1d(np.arange(mu.shape[-1]), used)
    out.update(intrinsic_checks(mu[..., intrinsic], rng))
    if metric_points:
        status(f"disentanglement metrics ({metric_points} points each)")
        # factor order of FACTORS: (azimuth, elevation, light, identity)
        codes = np.moveaxis(mu, 0, 3).reshape(-1, mu.shape[-1])
        out.update(all_metrics(FactorGrid((A, E, L, I), codes), seed, categorical=(3,), n_points=metric_points))
    return out


def evaluate_batches(model: DCIGN, batches: BatchSet, calibration: dict, seed: int = 0, n_pairs: int = 1500) -> dict:
    """The benchmark's numbers on single-factor batches of unseen identities (a test folder in the
    original layout, `data.load_folders`), where there is no factorial grid:
    recon_mse; per extrinsic factor k with batches varying it: r2_k (its latent against the known
    factor over every image that has one), and over random pairs (i, j) of one such batch, which
    differ in factor k only: novel_k (i's code with latent k set to j's calibrated value; without
    known values, swap_k alone), swap_k (latent k taken from j's code), copy_k (image i itself) and
    unchanged_k (i's code decoded), all MSE per pixel against image j; identity_acc: the intrinsic
    block tells the batches of poses and lights apart (logistic regression fitted on half the
    images of each batch, tested on the other half). The disentanglement metrics need a grid."""
    model.eval()
    M, B, S, _ = batches.images.shape
    mu = encode(model, batches.images).reshape(M, B, -1)
    images = batches.images.astype(np.float32) / 255
    out = {"recon_mse": float(((decode(model, mu.reshape(M * B, -1)).reshape(M, B, S, S) - images) ** 2).mean())}
    rng = np.random.default_rng([seed, 12])
    for k, name in enumerate(EXTRINSIC):
        cal = calibration.get(name)
        latent = cal["latent"] if cal else (k if k < model.config.n_extrinsic else None)
        sel = np.flatnonzero(batches.kinds == k)
        if latent is None or len(sel) == 0:
            continue
        f = batches.factors[..., k].ravel()
        known = np.isfinite(f)
        if cal and known.sum() > 2 and np.ptp(f[known]) > 0:
            out[f"r2_{name}"] = r_squared(f[known], mu.reshape(M * B, -1)[known, latent])
        m = sel[rng.integers(0, len(sel), n_pairs)]
        i = rng.integers(0, B, n_pairs)
        j = (i + rng.integers(1, B, n_pairs)) % B
        src, truth = mu[m, i], images[m, j]
        swapped = src.copy()
        swapped[:, latent] = mu[m, j, latent]
        out[f"swap_{name}"] = float(((decode(model, swapped) - truth) ** 2).mean())
        out[f"copy_{name}"] = float(((images[m, i] - truth) ** 2).mean())
        out[f"unchanged_{name}"] = float(((decode(model, src) - truth) ** 2).mean())
        target = batches.factors[m, j, k]
        if cal and np.isfinite(target).all():
            out[f"novel_{name}"] = float(((decode(model, set_factor(src, cal, target)) - truth) ** 2).mean())
    used = sorted({c["latent"] for c in calibration.values()})
    intrinsic = np.setdiff1d(np.arange(mu.shape[-1]), used)
    posed = np.flatnonzero(batches.kinds < 3)  # each such batch shows one identity
    if len(posed) > 1 and B >= 2:
        from sklearn.linear_model import LogisticRegression

        z = mu[posed][..., intrinsic]
        half = B // 2
        labels = np.repeat(np.arange(len(posed)), B - half), np.repeat(np.arange(len(posed)), half)
        clf = LogisticRegression(max_iter=2000).fit(z[:, half:].reshape(-1, len(intrinsic)), labels[0])
        out["identity_acc"] = float(clf.score(z[:, :half].reshape(-1, len(intrinsic)), labels[1]))
    return out


def intrinsic_checks(z: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """Group checks of the intrinsic block z (I, A, E, L, d): identity accuracy of a logistic
    regression trained on half of the (azimuth, elevation, light) cells and tested on the other
    half, and the fraction of the block's variance that pose and light cause within an identity
    (0 = perfectly invariant)."""
    from sklearn.linear_model import LogisticRegression

    I = z.shape[0]
    cells = z.reshape(I, -1, z.shape[-1])
    order = rng.permutation(cells.shape[1])
    half = max(1, len(order) // 2)
    fit, test = order[:half], order[half:]
    labels = np.arange(I)
    out = {"intrinsic_within_var": float(cells.var(1).sum(-1).mean() / max(cells.reshape(-1, z.shape[-1]).var(0).sum(), 1e-12))}
    if len(test):
        clf = LogisticRegression(max_iter=2000).fit(cells[:, fit].reshape(-1, z.shape[-1]), np.repeat(labels, len(fit)))
        out["identity_acc"] = float(clf.score(cells[:, test].reshape(-1, z.shape[-1]), np.repeat(labels, len(test))))
    return out


def sweep(model: DCIGN, images: np.ndarray, latent: int, values: np.ndarray) -> np.ndarray:
    """(R, 1 + C, S, S) in [0, 1]: each input image (R, S, S) uint8, then its re-renders with latent
    `latent` set to each of `values` (C,) and all others kept (paper figures 4, 5, 8)."""
    mu = encode(model, images)
    z = np.repeat(mu, len(values), 0)
    z[:, latent] = np.tile(values, len(mu))
    out = decode(model, z).reshape(len(mu), len(values), *images.shape[-2:])
    return np.concatenate([images[:, None].astype(np.float32) / 255, out], 1)


def scatter_data(grid: TestGrid, model: DCIGN, calibration: dict) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(title, true factor, inferred latent) per calibrated extrinsic factor over the test grid."""
    mu = encode(model, grid.images)
    values = grid.factor_values().reshape(-1, 4)
    return [(f"{name}: z{c['latent'] + 1}  R2={r_squared(values[:, k], mu[:, c['latent']]):.3f}",
             values[:, k], mu[:, c["latent"]])
            for k, name in enumerate(EXTRINSIC) if (c := calibration.get(name))]


ROWS = [
    ("recon_mse", "reconstruction MSE / pixel (paper chairs 150px: 2.77e-4)"),
    ("thin_recon_mse", "reconstruction MSE / pixel on thin parts"),
    ("thin_kept", "thin-part pixels kept (nearer truth than the render without them)"),
    *[(f"r2_{n}", f"R^2 {n} latent vs truth") for n in EXTRINSIC],
    *[(f"{p}_{n}", f"{label} MSE, {n}") for n in EXTRINSIC
      for p, label in (("novel", "novel-view"), ("swap", "latent-swap novel-view"), ("copy", "copy-input"),
                       ("unchanged", "unchanged-code"))],
    ("beta_vae", "beta-VAE score"), ("factor_vae", "FactorVAE score"), ("mig", "MIG"),
    ("dci_disentanglement", "DCI disentanglement"), ("dci_completeness", "DCI completeness"),
    ("dci_informativeness", "DCI informativeness"), ("sap", "SAP"),
    ("identity_acc", "identity accuracy from intrinsic block"),
    ("intrinsic_within_var", "intrinsic variance due to pose/light"),
]


def format_table(results: dict[str, dict], image_size: int) -> str:
    """Markdown table: one row per number, one column per model (name -> evaluate() output)."""
    names = list(results)
    lines = [f"| metric ({image_size}x{image_size}, unseen identities) | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for key, label in ROWS:
        if any(key in r for r in results.values()):
            cells = [_fmt(results[n].get(key)) for n in names]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.3e}" if abs(v) < 0.01 and v != 0 else f"{v:.3f}"
