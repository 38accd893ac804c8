"""Style statistics on grids whose answer is known, and outputs that keep the examples' style."""

import numpy as np
import pytest

from invgfx.procedural import learn_adjacency, solve
from invgfx.procedural.examples import castle, city
from invgfx.procedural.style import style_distance, style_stats


def test_style_stats_by_hand():
    names = ["empty", "ground", "wall"]
    g = np.zeros((4, 3, 3), np.int64)
    g[:, :, 0] = 1
    g[0, 0, 1:3] = 2  # a column two high: one structure of 2 voxels
    g[3, 2, 1] = 2  # a stray voxel
    s = style_stats(g, names)
    assert s["histogram"] == pytest.approx({"empty": 21 / 36, "ground": 12 / 36, "wall": 3 / 36})
    assert s["non_empty"] == pytest.approx(15 / 36)
    assert sorted(s["heights"].tolist()) == [0] * 10 + [2, 3]  # one above the highest structure voxel
    assert s["structure_size"] == pytest.approx((2**2 + 1**2) / 3)  # a random structure voxel's component
    same = style_distance(s, s)
    assert same["label_kl"] == pytest.approx(0, abs=1e-9) and same["height_w1"] == 0 and same["structure_ratio"] == 1
    flat = np.zeros_like(g)
    flat[:, :, 0] = 1
    d = style_distance(s, style_stats(flat, names))
    assert d["label_kl"] > 0.5 and d["height_ratio"] == 0 and d["structure_ratio"] == 0


@pytest.mark.parametrize("example", [castle, city])
def test_context_choice_keeps_large_structures_that_frequency_choice_dissolves(example):
    grid, names, _ = example()
    rules = learn_adjacency([grid], names)
    target = style_stats(grid, names)
    dist = {}
    for choice in ("context", "frequency"):
        runs = [solve(rules, (40, 40, grid.shape[2]), seed=s, choice=choice, heuristic="scanline") for s in range(3)]
        assert all(r.ok for r in runs)
        dist[choice] = [style_distance(target, style_stats(r.grid, names)) for r in runs]
    mean = {c: {k: float(np.mean([d[k] for d in ds])) for k in ds[0]} for c, ds in dist.items()}
    # walls and blocks survive: a structure voxel's component is 0.8-1.2 of the example's, not 0.02
    assert mean["context"]["structure_ratio"] > 0.4 > 10 * mean["frequency"]["structure_ratio"]
    assert mean["context"]["height_ratio"] > mean["frequency"]["height_ratio"]
    if example is city:  # the castle's labels stay apart (its outer ground forms plains), the city's match
        assert mean["context"]["label_kl"] < 0.2 * mean["frequency"]["label_kl"]
