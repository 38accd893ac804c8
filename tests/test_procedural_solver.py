"""The solver: learned rules obeyed exactly, pins, edges, reproducibility, repairs, reports."""

import numpy as np
import pytest

from invgfx.procedural import NAMES, Pin, generate_building, learn_adjacency, learn_overlapping, massing_pins, pair_violations, random_params, solve
from invgfx.procedural.formats import neighbour_labels
from invgfx.procedural.modules import occupancy

L = {n: i for i, n in enumerate(NAMES)}


@pytest.fixture(scope="module")
def rules():
    rng = np.random.default_rng(0)
    return learn_adjacency([generate_building(random_params(rng), i) for i in range(6)], list(NAMES))


def _check_valid(grid, rules, periodic=(False, False, False)):
    assert (grid >= 0).all()
    assert pair_violations(grid, rules) == (0, pair_violations(grid, rules)[1])
    for axis, p in enumerate(periodic):  # pairs across the wrap obey the rules too
        if p:
            g2 = np.roll(grid, 1, axis=axis)
            assert pair_violations(g2, rules)[0] == 0
    nb = neighbour_labels(grid)
    for d in range(6):
        if not periodic[d // 2]:  # bounded faces hold only modules seen on that face
            assert rules.boundary[d][grid[nb[d] < 0]].all()


def test_outputs_obey_every_rule_and_seed_reproduces(rules):
    a = solve(rules, (20, 18, 7), seed=0)
    assert a.ok and a.grid.shape == (20, 18, 7)
    _check_valid(a.grid, rules)
    assert (a.grid[:, :, 0] == L["ground"]).all()  # learned: the -z face is ground
    assert occupancy(a.grid).sum() > 0.01 * a.grid.size  # it builds something, not only air
    assert (solve(rules, (20, 18, 7), seed=0).grid == a.grid).all()
    assert (solve(rules, (20, 18, 7), seed=2).grid != a.grid).any()


def test_backtracking_and_block_repair_where_plain_wfc_fails(rules):
    plain = solve(rules, (24, 24, 8), seed=0, backtracking=False)
    assert not plain.ok and plain.conflict is not None and "contradiction" in plain.message
    ours = solve(rules, (24, 24, 8), seed=0)
    assert ours.ok and ours.stats["backtracks"] >= 1
    _check_valid(ours.grid, rules)
    repaired = solve(rules, (24, 24, 8), seed=0, backtrack_limit=0)  # force Merrell-style block repair
    assert repaired.ok and repaired.stats["resets"] >= 1
    _check_valid(repaired.grid, rules)


def test_pins_are_respected(rules):
    size = (16, 16, 6)
    pins = [Pin.parse("8,3,1=door-y", size, rules.names), Pin.parse("0:6,:,1:=empty", size, rules.names)]
    res = solve(rules, size, pins=pins, seed=0)
    assert res.ok and res.grid[8, 3, 1] == L["door-y"] and (res.grid[:6, :, 1:] == L["empty"]).all()
    _check_valid(res.grid, rules)


def test_impossible_pin_is_reported_not_raised(rules):
    size = (10, 10, 6)
    pins = [Pin.parse("6,5,2=window+x", size, rules.names), Pin.parse("3,3,4=door-y", size, rules.names)]
    res = solve(rules, size, pins=pins)
    assert not res.ok and "3,3,4=door-y" in res.message and "6,5,2=window+x" in res.message  # names the pin at fault and those before it
    assert res.conflict is not None


def test_massing_is_filled_exactly(rules):
    truth = generate_building(random_params(np.random.default_rng(7)), seed=7)
    occ = occupancy(truth)
    res = solve(rules, truth.shape, pins=massing_pins(occ, list(NAMES)), seed=0)
    assert res.ok and (occupancy(res.grid) == occ).all()
    _check_valid(res.grid, rules)


def test_periodic_edges_and_ground_option():
    ex = np.array([[0, 0, 1, 2], [0, 1, 2, 2], [1, 2, 2, 0]]).reshape(3, 4, 1)  # 2D example
    r = learn_adjacency([ex], ["a", "b", "c"])
    res = solve(r, (12, 10, 1), periodic=(True, True, False), seed=5)
    assert res.ok
    _check_valid(res.grid, r, (True, True, False))
    rng = np.random.default_rng(0)
    br = learn_adjacency([generate_building(random_params(rng), i) for i in range(3)], list(NAMES))
    g = solve(br, (12, 12, 5), ground="ground", bounded=False, seed=0)
    assert g.ok and (g.grid[:, :, 0] == L["ground"]).all() and not (g.grid[:, :, 1:] == L["ground"]).any()


def test_overlapping_model_output_windows_are_learned_patterns():
    ex = np.zeros((8, 8, 1), np.int64)
    ex[2:6, 2:6] = 1
    ex[3:5, 3:5] = 2  # a framed square
    r = learn_overlapping([ex], ["a", "b", "c"], n=2, periodic_input=True)
    res = solve(r, (14, 12, 1), periodic=(True, True, False), seed=2)
    assert res.ok
    known = {p.tobytes() for p in r.patterns[:, :, :, 0]}
    g = res.grid[:, :, 0]
    wrap = np.pad(g, ((0, 1), (0, 1)), mode="wrap")
    for x in range(g.shape[0]):
        for y in range(g.shape[1]):
            assert np.ascontiguousarray(wrap[x : x + 2, y : y + 2]).tobytes() in known


def test_bad_arguments_raise_procedural_error(rules):
    from invgfx.procedural import ProceduralError

    with pytest.raises(ProceduralError, match="unknown label 'tower'"):
        Pin.parse("1,1,1=tower", (5, 5, 5), rules.names)
    with pytest.raises(ProceduralError, match="x,y,z=label"):
        Pin.parse("1,1=door-y", (5, 5, 5), rules.names)
    with pytest.raises(ProceduralError, match="heuristic"):
        solve(rules, (5, 5, 5), heuristic="random")


def test_bounded_overlapping_decodes_whole_patterns_and_reports_impossible_sizes():
    ex = np.zeros((8, 8, 1), np.int64)
    ex[2:6, 2:6] = 1
    ex[3:5, 3:5] = 2
    r = learn_overlapping([ex], ["a", "b", "c"], n=3)  # squares repeat with period 6 + the 2-cell border
    same = solve(r, (8, 8, 1), seed=2)
    assert same.ok and (same.grid == ex).all()  # the only 8 x 8 solution is the example
    big = solve(r, (20, 14, 1), seed=2)
    assert big.ok and big.grid.shape == (20, 14, 1)
    known = {p.tobytes() for p in r.patterns[:, :, :, 0]}
    g = big.grid[:, :, 0]
    assert all(np.ascontiguousarray(g[x : x + 3, y : y + 3]).tobytes() in known for x in range(18) for y in range(12))
    odd = solve(r, (15, 13, 1), seed=2)
    assert not odd.ok and "bounded edges" in odd.message


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_impossible_pins_name_a_pinned_cell_and_never_crash(rules, engine):
    names = rules.names
    unseen = next(n for n, w in zip(names, rules.weights) if w == 0)  # a label of the vocabulary no example holds
    one = solve(rules, (1, 1, 1), pins=[Pin.parse(f"0,0,0={unseen}", (1, 1, 1), names)], bounded=False, engine=engine)
    assert not one.ok and f"{unseen} cannot be at (0, 0, 0)" in one.message
    size = (8, 8, 4)
    pin = Pin.parse("2:5,1:4,3=ground", size, names)  # ground only ever lies at the bottom
    res = solve(rules, size, pins=[pin], engine=engine)
    cell = tuple(int(v) for v in res.message.split("ground cannot be at (")[1].split(")")[0].split(","))
    assert not res.ok and pin.mask[cell]  # the named cell lies inside the pinned region
