"""Outputs in the examples' style, at every size: style statistics and success / speed of the
rule solver on examples with large structures.

Examples: `invgfx.procedural.examples.castle()` (walls round a courtyard, towers, a keep) and
`city()` (5-storey blocks along streets), both in Merrell's label-number convention with
shared object names, and 20 procedural buildings. Adjacency rules; for each choice rule
(context: weighted by the decided neighbours, the default; frequency: WFC's global
frequencies) and cell order, the style distance of 40 x 40 outputs to their example
(`invgfx.procedural.style`), and success / cells per second at 40x40x10, 80x80x20 and
160x160x20 (CPU time, one process).

    python benchmarks/bench_procedural_style.py [--seeds 10] [--big-seeds 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from invgfx.procedural import generate_building, learn_adjacency, random_params, solve
from invgfx.procedural.examples import castle, city
from invgfx.procedural.modules import NAMES
from invgfx.procedural.style import style_distance, style_stats

RULES = [("context", "scanline"), ("context", "entropy"), ("frequency", "entropy"), ("frequency", "scanline")]


def buildings():
    grids = [generate_building(random_params(np.random.default_rng(s)), seed=s) for s in range(20)]
    X, Y, Z = (max(g.shape[a] for g in grids) for a in range(3))
    row = np.zeros((X * len(grids), Y, Z), np.int64)  # side by side, for the style statistics
    for i, g in enumerate(grids):
        row[i * X:i * X + g.shape[0], :g.shape[1], :g.shape[2]] = g
    return grids, row, list(NAMES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="outputs per row at 40x40 and 80x80")
    parser.add_argument("--big-seeds", type=int, default=3, help="outputs per row at 160x160x20")
    args = parser.parse_args()
    examples = {}
    for make in (castle, city):
        grid, names, _ = make()
        examples[make.__name__] = ([grid], grid, names)
    examples["buildings"] = buildings()
    print(f"{platform.machine()}, numba search, CPU seconds of one process")
    print("\n| example | choice | order | label KL | non-empty (output - example) | column height W1 (voxels) | "
          "height ratio | structure size ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for name, (grids, whole, names) in examples.items():
        rules = learn_adjacency(grids, names)
        target = style_stats(whole, names)
        solve(rules, (8, 8, 4))  # load the compiled search
        for choice, order in RULES:
            ds = [style_distance(target, style_stats(solve(rules, (40, 40, whole.shape[2]), seed=s, choice=choice,
                                                           heuristic=order).grid, names)) for s in range(args.seeds)]
            m = {k: float(np.mean([d[k] for d in ds])) for k in ds[0]}
            print(f"| {name} | {choice} | {order} | {m['label_kl']:.3f} | {m['non_empty']:+.3f} | {m['height_w1']:.2f} | "
                  f"{m['height_ratio']:.2f} | {m['structure_ratio']:.2f} |", flush=True)
    print("\n| example | choice | order | size | solved | cells / s | backtracks / repairs per grid |")
    print("|---|---|---|---|---:|---:|---:|")
    for name, (grids, whole, names) in examples.items():
        rules = learn_adjacency(grids, names)
        for choice, order in RULES[:3]:
            for size in ((40, 40, 10), (80, 80, 20), (160, 160, 20)):
                n = args.big_seeds if size[0] == 160 else args.seeds
                ok = bt = rs = 0
                cpu = 0.0
                for s in range(n):
                    t = time.process_time()
                    r = solve(rules, size, seed=s, choice=choice, heuristic=order)
                    cpu += time.process_time() - t
                    ok, bt, rs = ok + r.ok, bt + r.stats["backtracks"], rs + r.stats["resets"]
                print(f"| {name} | {choice} | {order} | {'x'.join(map(str, size))} | {ok}/{n} | "
                      f"{n * np.prod(size) / cpu:,.0f} | {bt / n:.1f} / {rs / n:.2f} |", flush=True)


if __name__ == "__main__":
    main()
