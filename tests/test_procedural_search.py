"""The compiled search (search_numba) against the plain-Python reference (search): same
steps and random numbers, so the same tiles, counts and messages in every situation."""

import sys

import numpy as np
import pytest

from invgfx.procedural import NAMES, Pin, generate_building, learn_adjacency, learn_overlapping, massing_pins, pair_violations, random_params, solve
from invgfx.procedural import search, search_numba
from invgfx.procedural.modules import occupancy
from invgfx.procedural.solver import _problem, _tile_domains


@pytest.fixture(scope="module")
def rules():
    rng = np.random.default_rng(0)
    return learn_adjacency([generate_building(random_params(rng), i) for i in range(6)], list(NAMES))


def _same(size, rules, **kw):
    fast, ref = solve(rules, size, engine="fast", **kw), solve(rules, size, engine="reference", **kw)
    assert fast.stats["engine"] == "search_numba" and ref.stats["engine"] == "search"
    assert (fast.ok, fast.message, fast.conflict) == (ref.ok, ref.message, ref.conflict)
    assert (fast.tiles == ref.tiles).all() and (fast.grid == ref.grid).all()
    for k in ("decisions", "backtracks", "resets"):
        assert fast.stats[k] == ref.stats[k], k
    return fast


def test_splitmix64_matches_the_published_sequence():
    # SplitMix64 from state 0 starts 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4 (Vigna's splitmix64.c)
    rng = search.SplitMix64(0)
    assert [rng.random() for _ in range(2)] == [(v >> 11) * 2.0**-53 for v in (0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4)]
    state = np.zeros(1, np.uint64)
    assert [search_numba._random(state) for _ in range(2)] == [search.SplitMix64(0).random(), (0x6E789E6AA1B965F4 >> 11) * 2.0**-53]


def test_same_grids_for_adjacency_rules(rules):
    a = _same((16, 14, 6), rules, seed=1)
    assert a.ok and a.stats["decisions"] > 100
    assert _same((16, 14, 6), rules, seed=2, heuristic="entropy").ok
    assert _same((16, 14, 6), rules, seed=3, choice="frequency", heuristic="entropy").ok  # WFC's rule
    assert _same((12, 12, 5), rules, seed=0, ground="ground", bounded=False, periodic=(True, False, False)).ok
    pins = [Pin.parse("8,3,1=door-y", (16, 16, 6), rules.names), Pin.parse("0:6,:,1:=empty", (16, 16, 6), rules.names)]
    assert _same((16, 16, 6), rules, seed=0, pins=pins).ok
    truth = generate_building(random_params(np.random.default_rng(7)), seed=7)
    assert _same(truth.shape, rules, seed=0, pins=massing_pins(occupancy(truth), list(NAMES))).ok


def test_same_backtracks_repairs_and_failures(rules):
    assert not _same((24, 24, 8), rules, seed=141, backtracking=False).ok  # plain WFC stops
    assert _same((24, 24, 8), rules, seed=141).stats["backtracks"] >= 1
    assert _same((24, 24, 8), rules, seed=141, backtrack_limit=0).stats["resets"] >= 1
    pins = [Pin.parse("6,5,2=window+x", (10, 10, 6), rules.names), Pin.parse("3,3,4=door-y", (10, 10, 6), rules.names)]
    assert "3,3,4=door-y" in _same((10, 10, 6), rules, pins=pins).message  # impossible pin, same report


def test_same_grids_with_more_than_64_tiles():
    """Two 64-bit words per domain (81 patterns), with backtracking, and a give-up."""
    r = learn_overlapping([np.random.default_rng(1).integers(0, 2, (9, 9, 1))], ["a", "b"], n=3, periodic_input=True)
    assert r.n_tiles > 64
    assert _same((10, 10, 1), r, periodic=(True, True, False), seed=2).stats["backtracks"] >= 1
    r8 = learn_overlapping([np.random.default_rng(2).integers(0, 2, (8, 8, 1))], ["a", "b"], n=3, periodic_input=True)
    gave_up = _same((10, 10, 1), r8, periodic=(True, True, False), seed=0, max_resets=2)
    assert not gave_up.ok and "gave up after 2 block repairs" in gave_up.message


def test_fast_search_resumes_between_chunks(rules):
    """A progress callback splits the compiled run into chunks of decisions; same result."""
    size = (20, 20, 6)
    problem = _problem(rules, size, (False,) * 3)
    base, bad = search_numba.consistent(problem, _tile_domains(rules, size, size, (False,) * 3, True, []).reshape(-1, rules.n_tiles))
    assert bad < 0
    ref_base, _ = search.consistent(problem, _tile_domains(rules, size, size, (False,) * 3, True, []).reshape(-1, rules.n_tiles))
    assert (base == ref_base).all()
    settings = search.Settings(seed=4, backtrack_limit=2)
    seen = []
    chunked = search_numba.search(problem, base, settings, progress=seen.append, chunk=64)
    whole = search_numba.search(problem, base, settings)
    assert chunked.status == whole.status == search.SOLVED and (chunked.tiles == whole.tiles).all()
    assert len(seen) == whole.decisions // 64 and seen == sorted(seen)


def test_unknown_engine_is_a_procedural_error(rules):
    from invgfx.procedural import ProceduralError

    with pytest.raises(ProceduralError, match="engine"):
        solve(rules, (5, 5, 5), engine="gpu")


def test_without_numba_solve_warns_and_uses_the_reference(rules, monkeypatch):
    fast = solve(rules, (10, 10, 5), seed=3)
    monkeypatch.setitem(sys.modules, "invgfx.procedural.search_numba", None)  # import now fails
    monkeypatch.delattr(sys.modules["invgfx.procedural"], "search_numba")
    with pytest.warns(UserWarning, match="numba is not installed"):
        slow = solve(rules, (10, 10, 5), seed=3)
    assert slow.stats["engine"] == "search" and (slow.grid == fast.grid).all()


@pytest.mark.parametrize("example", ["castle", "city"])
def test_large_grids_split_in_halves_give_one_valid_grid_for_any_thread_count(monkeypatch, example):
    from invgfx.procedural import examples
    from invgfx.procedural import solver

    monkeypatch.setattr(solver, "SPLIT_CELLS", 2000)  # split grids this small, so the reference can follow
    grid, names, _ = getattr(examples, example)()
    rules = learn_adjacency([grid], names)
    size = (36, 20, grid.shape[2])
    one = solve(rules, size, seed=4, threads=1)
    two = solve(rules, size, seed=4, threads=2)
    ref = solve(rules, size, seed=4, threads=2, engine="reference")
    assert one.ok and np.array_equal(one.grid, two.grid) and np.array_equal(one.grid, ref.grid)
    assert pair_violations(two.grid, rules)[0] == 0 and len(two.stats["thread_seconds"]) == 3
