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


def test_2d_heights_stand_on_the_bottom_row_and_empty_is_named():
    names = ["#ffffff", "#000000"]  # an image's labels: background white
    g = np.zeros((3, 4, 1), np.int64)
    g[:, 0] = 1  # the bottom row
    g[1, 1:3] = 1  # a stem two cells high
    s = style_stats(g, names, empty=("#ffffff",))
    assert s["heights"].tolist() == [0, 3, 0] and s["non_empty"] == pytest.approx(5 / 12)
    assert s["structure_size"] == pytest.approx(2.0)  # the bottom row is ground, not structure


def test_garden_with_a_ground_wraps_and_grows_flowers_on_the_soil():
    """A periodic example has no border, so every pattern may end an output; before, the wrapped
    windows' soil at the top border made the ground impossible."""
    from invgfx.procedural import learn_overlapping
    from invgfx.procedural.examples import garden

    grid, names, roles = garden()
    rules = learn_overlapping([grid], names, n=3, symmetries=2, periodic_input=True)
    assert rules.boundary.all()
    res = solve(rules, (32, 32, 1), ground=roles["soil"], seed=1)
    assert res.ok
    soil, stem = names.index(roles["soil"]), names.index(roles["stem"])
    assert (res.grid[:, 0, 0] == soil).all() and (res.grid[:, 1:] != soil).all()
    assert (res.grid == stem).sum() > 20  # stems grow from it


def test_balance_brings_the_label_histogram_to_the_examples():
    """The castle's outer ground continues itself: drawn by context alone a scanline lays it far
    beyond its share; the balance's feedback draws the short labels more."""
    grid, names, _ = castle()
    rules = learn_adjacency([grid], names)
    target = style_stats(grid, names)
    mean = {}
    for balance in (0.0, 0.5):
        runs = [solve(rules, (40, 40, grid.shape[2]), seed=s, balance=balance) for s in range(3)]
        assert all(r.ok for r in runs)
        ds = [style_distance(target, style_stats(r.grid, names)) for r in runs]
        mean[balance] = {k: float(np.mean([d[k] for d in ds])) for k in ds[0]}
    assert mean[0.5]["label_kl"] < 0.3 * mean[0.0]["label_kl"]
    assert abs(mean[0.5]["non_empty"]) < abs(mean[0.0]["non_empty"])
    assert mean[0.5]["structure_ratio"] > 0.4  # walls and keeps still stand
    from invgfx.procedural import ProceduralError

    with pytest.raises(ProceduralError, match="balance"):
        solve(rules, (8, 8, 8), balance=-1)
