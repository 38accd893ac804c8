"""What each pose/light latent of a trained DC-IGN codes, on the unseen identities of its test grid.

For z1 (azimuth), z2 (elevation) and z3 (light) it prints the R^2 of `invgfx ign evaluate`, the
squared Spearman correlation (what R^2 would be if the code were monotonic but bent), the mean
latent at each true value, and how the latent's variance over the grid splits into the main
effects of identity, azimuth, elevation and light and their two-way interactions (a latent that
depends only on its own factor has that factor's main effect 1). Then, per azimuth, the correlation
of each latent with its factor and its mean at each value: a latent that flips sign or bends with
the azimuth (a fold) shows here; and
per light value, the R^2 and slope of the azimuth and elevation latents: a latent whose scale
changes with the light shows there. Last, per azimuth, the rms of the mirror residual
z(flip(x)) - sign * z(x) (sign -1 for azimuth and light, +1 for elevation: what `--mirror-consistency`
penalises), which is 0 for an encoder that respects the left-right symmetry of the renders. And, per
azimuth, how much the renders themselves change between adjacent light values (rms over pixels and
unseen identities, 0-255): where that change is small the light latent has little to read.
These are the figures behind the diagnoses in docs/ign-experiments.md.

    .venv/bin/python benchmarks/ign_latent_structure.py src/invgfx/ign/weights/faces_dcign_64.safetensors
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.stats import spearmanr

from invgfx.ign.data import dataset_of_checkpoint
from invgfx.ign.evaluate import EXTRINSIC, GRID_AXES, encode, r_squared, variance_shares
from invgfx.ign.model import MIRROR_SIGNS
from invgfx.ign.train import load_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a checkpoint of `invgfx ign train --family ...` (or the shipped weights)")
    ap.add_argument("--cache-dir", default=".invgfx_cache/ign", help="dataset cache (renders it if missing)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, meta = load_checkpoint(args.checkpoint)
    _, data = dataset_of_checkpoint(meta, args.cache_dir)
    grid = data.test
    I, A, E, L = grid.images.shape[:4]
    z = encode(model, grid.images).reshape(I, A, E, L, -1)
    values = {"azimuth": grid.azimuths, "elevation": grid.elevations, "light": grid.lights}
    degrees = {f: np.round(np.degrees(v)).astype(int).tolist() for f, v in values.items()}  # for printing
    for k, factor in enumerate(EXTRINSIC[:model.config.n_extrinsic]):
        axis = GRID_AXES.index(factor)
        zk = z[..., k]
        truth = np.broadcast_to(values[factor].reshape([-1 if a == axis else 1 for a in range(4)]), zk.shape)
        means = zk.mean(axis=tuple(a for a in range(4) if a != axis))
        print(f"\nz{k + 1} ({factor}): R^2 {r_squared(truth.ravel(), zk.ravel()):.3f}, "
              f"Spearman^2 {spearmanr(truth.ravel(), zk.ravel())[0] ** 2:.3f}")
        print(f"  mean at {factor} {degrees[factor]} deg: "
              f"{np.round(means.astype(float), 2).tolist()}")
        shares = variance_shares(zk)
        print("  variance shares: " + ", ".join(f"{n} {v:.3f}" for n, v in shares.items() if v >= 0.005))
        if factor != "azimuth":
            corr = [np.corrcoef(truth[:, a].ravel(), zk[:, a].ravel())[0, 1] for a in range(A)]
            print(f"  corr({factor}, z{k + 1}) per azimuth {degrees['azimuth']}: "
                  f"{np.round(np.array(corr, float), 2).tolist()}")
            by_azimuth = np.moveaxis(zk, axis, -1).mean(axis=(0, 2))  # (A, values of the factor)
            print(f"  mean z{k + 1} at each {factor}, per azimuth:")
            for a, row in zip(degrees['azimuth'], by_azimuth):
                print(f"    {a:4d}: {np.round(row.astype(float), 2).tolist()}")
        if factor != "light":
            lit = [(truth[..., li].ravel(), zk[..., li].ravel()) for li in range(L)]
            print(f"  per light {degrees['light']} deg: "
                  f"R^2 {[round(r_squared(t, v), 3) for t, v in lit]}, "
                  f"slope (latent per rad) {[round(float(np.polyfit(t, v, 1)[0]), 2) for t, v in lit]}")
    n = model.config.n_extrinsic
    z_flipped = encode(model, np.ascontiguousarray(grid.images[..., ::-1])).reshape(I, A, E, L, -1)[..., :n]
    residual = z_flipped - np.array(MIRROR_SIGNS[:n]) * z[..., :n]
    rms = np.sqrt((residual ** 2).mean(axis=(0, 2, 3)))  # (A, n)
    print(f"\nmirror residual rms per azimuth {degrees['azimuth']} deg:")
    for k in range(n):
        print(f"  z{k + 1} ({EXTRINSIC[k]}): {np.round(rms[:, k].astype(float), 2).tolist()}")
    step = np.diff(grid.images.astype(np.float32), axis=3)  # (I, A, E, L-1, H, W)
    change = np.sqrt((step ** 2).mean(axis=(0, 2, 4, 5)))  # (A, L-1)
    print(f"\nrms render change between adjacent lights {degrees['light']} deg, "
          "per azimuth:")
    for a, row in zip(degrees['azimuth'], change):
        print(f"  {a:4d}: {np.round(row.astype(float), 1).tolist()}")


if __name__ == "__main__":
    main()
