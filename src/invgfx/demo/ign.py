"""Demo section (b) graphics code: re-render unseen procedural faces under a new azimuth and light.

Loads the DC-IGN shipped in the package (invgfx/ign/weights, trained 6000 steps on the procedural
faces; or `--ign-checkpoint`), renders a few faces of the identities held out of its training
set, encodes each frontal view, sets the azimuth latent z1 (or the light latent z3) through the
checkpoint's angle calibration, and decodes: sweep grids beside the true renders. Numbers on this
small grid (R^2, novel-view error against copying the input) are computed here; the full
evaluation numbers are read from the checkpoint, where `invgfx ign export` stored them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from invgfx.demo.common import TITLES, DemoOptions, Figure, Section, fmt, rel

ABOUT = ("DC-IGN: a convolutional VAE whose code splits into azimuth (z1), elevation (z2), light (z3) and "
         "identity (z4..). It was trained on procedurally rendered faces in mini-batches where only one factor "
         "changes, with the other latents clamped, so each factor lands in its own latent. Here it sees one "
         "frontal image of a face it never saw in training, and re-renders it from new azimuths and under new "
         "lights by changing one latent and decoding.")

BENCH_ROWS = [
    ("recon_mse", "reconstruction MSE / pixel"),
    ("r2_azimuth", "R^2 azimuth latent vs truth"),
    ("r2_light", "R^2 light latent vs truth"),
    ("novel_azimuth", "novel-view MSE, azimuth"),
    ("copy_azimuth", "copy-input MSE, azimuth"),
    ("novel_light", "novel-light MSE"),
    ("copy_light", "copy-input MSE, light"),
]


@dataclass
class IGNResult:
    """checkpoint: the model used; faces: unseen identities shown; numbers measured here on the
    sweep grids (r2_*, novel_*, copy_*, recon_mse) and the checkpoint's stored benchmark numbers."""

    checkpoint: str
    step: int | None
    faces: list[int]
    columns: int
    numbers: dict[str, float]
    benchmark: dict | None
    ranges_deg: tuple[float, float] = (86.0, 80.0)  # azimuth and light swept over +- these
    files: dict[str, Path] = field(default_factory=dict)

    def section(self, root: Path) -> Section:
        s = Section("ign", TITLES["ign"], ABOUT)
        n = self.numbers
        s.numbers += [("model", f"{self.checkpoint} (step {self.step})"),
                      ("unseen faces", f"{len(self.faces)} (identities {', '.join(map(str, self.faces))}), "
                                       f"{self.columns} azimuths and {self.columns} lights each")]
        here = "measured here on these faces"
        s.numbers += [(f"R^2 azimuth latent z1 vs true azimuth ({here})", f"{n['r2_azimuth']:.3f}"),
                      (f"R^2 light latent z3 vs true light ({here})", f"{n['r2_light']:.3f}"),
                      (f"novel-view MSE / pixel, azimuth; copying the input ({here})",
                       f"{fmt(n['novel_azimuth'])}; {fmt(n['copy_azimuth'])}"),
                      (f"novel-light MSE / pixel; copying the input ({here})",
                       f"{fmt(n['novel_light'])}; {fmt(n['copy_light'])}"),
                      (f"reconstruction MSE / pixel ({here})", fmt(n["recon_mse"]))]
        if self.benchmark:
            m, source = self.benchmark.get("metrics", {}), self.benchmark.get("source", "?")
            s.numbers += [(f"{label} [benchmark]", fmt(m[k])) for k, label in BENCH_ROWS if k in m]
            s.notes.append(f"[benchmark]: numbers stored in the checkpoint, measured by {source}; not recomputed by "
                           "this run.")
        s.notes.append("Novel-view MSE: the frontal view of each face is re-rendered at every other azimuth (light) "
                       "of its row and compared with the true render there; 'copying the input' is the error of "
                       "returning the frontal view unchanged, which a useful re-render must beat.")
        az, light = (f"{r:.0f}" for r in self.ranges_deg)
        captions = {
            "azimuth": (f"DC-IGN: each row an unseen face; first column the input, then the azimuth latent z1 swept "
                        f"over -{az}..{az} degrees", "image"),
            "azimuth_truth": ("the truth: the same faces rendered at those azimuths", "image"),
            "light": (f"DC-IGN: the light latent z3 swept over -{light}..{light} degrees", "image"),
            "light_truth": ("the truth: the same faces under those lights", "image"),
        }
        for key, (caption, kind) in captions.items():
            if key in self.files:
                s.figures.append(Figure(rel(self.files[key], root), caption, kind))
        return s


def render_faces(spec, ids: np.ndarray, azimuths: np.ndarray, lights: np.ndarray,
                 progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """uint8 renders of identities `ids` of dataset `spec` at elevation 0: (I, A, S, S) over
    `azimuths` (light 0) and (I, L, S, S) over `lights` (azimuth 0), radians; as the dataset
    renders them (invgfx.ign.data.generate)."""
    import torch
    from tqdm import tqdm

    from invgfx.ign.shapes import family_object, render_object, single_thread

    jobs = [(i, a, 0.0) for i in ids for a in azimuths] + [(i, 0.0, light) for i in ids for light in lights]
    objects = {}
    images = []
    with torch.no_grad(), single_thread():
        for i, az, light in tqdm(jobs, desc="rendering faces", unit="img", disable=not progress):
            if i not in objects:  # the identity's object, from its own seed, as the dataset builds it
                objects[i] = family_object(spec.family, spec.seed, int(i))
            img = render_object(objects[i], float(az), 0.0, float(light), spec.image_size)
            images.append((img.numpy() * 255 + 0.5).astype(np.uint8))
    images = np.stack(images)
    n = len(ids) * len(azimuths)
    S = spec.image_size
    return images[:n].reshape(len(ids), len(azimuths), S, S), images[n:].reshape(len(ids), len(lights), S, S)


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def run(folder: Path, opts: DemoOptions) -> IGNResult:
    """Sweep grids of a few unseen faces (PNG) and the numbers of the section."""
    from invgfx.ign import IGNError
    from invgfx.ign.data import DatasetSpec, split_identities
    from invgfx.ign.evaluate import decode, encode, sweep
    from invgfx.ign.export import shipped_checkpoint
    from invgfx.ign.pictures import grid_picture
    from invgfx.ign.train import load_checkpoint
    from invgfx.splat import write_png

    folder.mkdir(parents=True, exist_ok=True)
    from invgfx.models import resolve_weights

    path = Path(resolve_weights(opts.ign_checkpoint, "--ign-checkpoint", "dcign")) if opts.ign_checkpoint \
        else shipped_checkpoint("faces")
    model, meta = load_checkpoint(path, opts.device)
    if "dataset" not in meta:
        raise IGNError(f"{path}: trained on a folder of images (--data); the demo needs a checkpoint trained on a "
                       "procedural family (it renders held-out identities of that dataset)")
    for factor in ("azimuth", "light"):
        if factor not in meta.get("calibration", {}):
            raise IGNError(f"{path}: has no {factor} calibration; the demo sweeps azimuth and light")
    spec = DatasetSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["dataset"].items()})
    n_faces, cols = (2, 5) if opts.quick else (5, 9)
    _, test_ids = split_identities(spec.n_identities, spec.n_test_identities, spec.seed)
    ids = test_ids[np.linspace(0, len(test_ids) - 1, n_faces).round().astype(int)]
    azimuths = np.linspace(-spec.azimuth_range, spec.azimuth_range, cols)
    lights = np.linspace(-spec.light_range, spec.light_range, cols)
    az_images, light_images = render_faces(spec, ids, azimuths, lights)
    mid = cols // 2  # azimuth 0 / light 0: the frontal, front-lit input
    inputs = az_images[:, mid]
    files: dict[str, Path] = {}
    numbers: dict[str, float] = {}
    S = spec.image_size
    for factor, truth, values in (("azimuth", az_images, azimuths), ("light", light_images, lights)):
        cal = meta["calibration"][factor]
        grid = sweep(model, inputs, cal["latent"], cal["slope"] * values + cal["intercept"])  # (I, 1 + C, S, S)
        write_png(folder / f"{factor}_sweep.png", grid_picture(grid, scale=2))
        files[factor] = folder / f"{factor}_sweep.png"
        truth_rows = np.concatenate([inputs[:, None], truth], 1).astype(np.float32) / 255
        write_png(folder / f"{factor}_truth.png", grid_picture(truth_rows, scale=2))
        files[f"{factor}_truth"] = folder / f"{factor}_truth.png"
        # numbers: latent vs true angle over every render of the row; re-render vs truth off the input column
        mu = encode(model, truth.reshape(-1, S, S))
        numbers[f"r2_{factor}"] = _r2(np.tile(values, len(ids)), mu[:, cal["latent"]])
        others = [c for c in range(cols) if c != mid]
        true_frames = truth[:, others].astype(np.float32) / 255
        numbers[f"novel_{factor}"] = float(((grid[:, 1:][:, others] - true_frames) ** 2).mean())
        numbers[f"copy_{factor}"] = float(((inputs[:, None].astype(np.float32) / 255 - true_frames) ** 2).mean())
    every = np.concatenate([az_images.reshape(-1, S, S), light_images.reshape(-1, S, S)])
    recon = decode(model, encode(model, every))
    numbers["recon_mse"] = float(((recon - every.astype(np.float32) / 255) ** 2).mean())
    name = path.name if not opts.ign_checkpoint else str(path)
    ranges = (float(np.degrees(spec.azimuth_range)), float(np.degrees(spec.light_range)))
    return IGNResult(name, meta.get("step"), [int(i) for i in ids], cols, numbers, meta.get("benchmark"), ranges, files)

