"""How much an output looks like its examples, in numbers: the statistics of a labelled grid
that a person notices first, and their distance between example and output.

* label histogram: the fraction of voxels of each label; the distance is the KL divergence
  KL(example || output), with every label given half a voxel so that a label the output
  lacks costs a finite amount;
* non-empty fraction: voxels whose label is not `empty`;
* column heights: per (x, y) column, one above its highest structure voxel (non-empty, above
  z = 0, the ground layer), 0 for a bare column; compared by their mean and the Wasserstein-1
  distance of the two distributions, in voxels;
* structure size: the size of the 6-connected component of structure voxels that a random
  structure voxel belongs to (a wall ring or a block, not a stray voxel), mean.
2D grids (Z = 1) stand on their bottom row instead: heights are per x column, along y, above
y = 0. Which labels are empty is given by name (`empty`; for an image, its background colour).
"""

from __future__ import annotations

import numpy as np

from .errors import ProceduralError


def style_stats(grid: np.ndarray, names: list[str], empty: tuple[str, ...] = ("empty",)) -> dict:
    """{"histogram": {name: fraction}, "non_empty", "heights": (X*Y,) or (X,) ints,
    "mean_height", "structure_size"} of a labelled grid (X, Y, Z); `empty`: the names of the
    labels that are not structure."""
    from scipy import ndimage

    grid = np.asarray(grid)
    if grid.ndim != 3 or grid.size == 0:
        raise ProceduralError(f"style_stats needs a non-empty (X, Y, Z) grid; got shape {grid.shape}")
    counts = np.bincount(grid.ravel(), minlength=len(names)).astype(float)
    histogram = {}
    for name, c in zip(names, counts):  # names may repeat across vocabularies: add them up
        histogram[name] = histogram.get(name, 0.0) + c / grid.size
    empty = np.isin(grid, [i for i, n in enumerate(names) if n in empty])
    structure = ~empty
    up = 2 if grid.shape[2] > 1 else 1  # 2D grids stand on their bottom row
    if up == 2:
        structure[:, :, 0] = False
    else:
        structure[:, 0] = False
    level = np.arange(grid.shape[up]).reshape([-1 if a == up else 1 for a in range(3)])
    heights = np.where(structure.any(up), (structure * (level + 1)).max(up), 0).ravel()
    labels, n = ndimage.label(structure)
    sizes = np.bincount(labels.ravel())[1:] if n else np.zeros(0)
    structure_size = float((sizes**2).sum() / sizes.sum()) if sizes.sum() else 0.0
    return {"histogram": histogram, "non_empty": float((~empty).mean()), "heights": heights,
            "mean_height": float(heights.mean()), "structure_size": structure_size}


def style_distance(example: dict, output: dict) -> dict:
    """{"label_kl", "non_empty" (output minus example), "height_w1" (voxels), "height_ratio",
    "structure_ratio"} between two `style_stats`."""
    labels = sorted(set(example["histogram"]) | set(output["histogram"]))
    p = np.array([example["histogram"].get(n, 0.0) for n in labels])
    q = np.array([output["histogram"].get(n, 0.0) for n in labels])
    p, q = (p + 1e-6) / (p + 1e-6).sum(), (q + 1e-6) / (q + 1e-6).sum()
    out = {"label_kl": float((p * np.log(p / q)).sum()), "non_empty": output["non_empty"] - example["non_empty"]}
    a, b = np.sort(example["heights"]), np.sort(output["heights"])
    grid = np.linspace(0, 1, 512, endpoint=False) + 0.5 / 512  # quantiles of both distributions
    out["height_w1"] = float(np.abs(np.quantile(a, grid) - np.quantile(b, grid)).mean())
    out["height_ratio"] = output["mean_height"] / max(example["mean_height"], 1e-12)
    out["structure_ratio"] = output["structure_size"] / max(example["structure_size"], 1e-12)
    return out
