"""MPM substep speed and memory: 5k / 20k / 100k particles on 32^3 / 64^3 / 128^3 grids.

The scene is configs/mpm/bench_jelly_cube.json (PhysGaussian format: a jelly cube under gravity
in a bounding box), with `n_grid` overridden and N particles on a lattice filling a cube of side
0.3 m, so the same scene can be run through other solvers for a side-by-side ratio.

forward:           ms per substep of Simulator.run (no gradients);
forward+backward:  ms per substep re-run on a wp.Tape plus its backward pass (the unit of BPTT;
                   `invgfx.mpm.simulate` adds one untaped forward per substep to rebuild the
                   window's states);
memory:            bytes per particle allocated by the simulator (two states + scratch).

    python benchmarks/bench_mpm.py [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch
import warp as wp

from invgfx.mpm import Simulator, load_config
from invgfx.mpm.config import estimate_memory
from invgfx.mpm.solver import WarpState

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mpm" / "bench_jelly_cube.json"


def cube_particles(n: int, side: float = 0.3, centre: float = 0.5) -> tuple[torch.Tensor, float]:
    """About n particles on a lattice filling a cube -> (positions (n', 3), volume per particle)."""
    k = round(n ** (1 / 3))
    h = side / k
    ax = torch.arange(k) * h + centre - side / 2 + h / 2
    return torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3), h**3


def timed(fn, repeats: int, device: str) -> float:
    fn()  # warm-up (kernel load)
    wp.synchronize_device(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    wp.synchronize_device(device)
    return (time.perf_counter() - start) / repeats * 1e3


def bench(n: int, n_grid: int, device: str, repeats: int) -> dict:
    cfg = replace(load_config(CONFIG), n_grid=n_grid)
    x, vol = cube_particles(n)
    sim = Simulator(cfg, x, vol, device=device)
    state, params = sim.initial_state(), sim.default_params()
    fwd = timed(lambda: sim.run(state, params, repeats), 1, device) / repeats

    sim.enable_grad()
    wp_params = [wp.from_torch(p.clone(), requires_grad=True) for p in params.tensors()]
    s_in = WarpState.from_torch(state.clone(), requires_grad=True)
    s_out = WarpState(*(wp.zeros_like(a, requires_grad=True) for a in s_in.arrays()))

    def taped_step():
        tape = wp.Tape()
        with tape:
            sim.step(s_in, s_out, *wp_params, 0.0)
        tape.backward(grads={s_out.x: wp.ones_like(s_out.x)})
        tape.zero()

    both = timed(taped_step, max(1, repeats // 2), device)
    return {"particles": sim.n, "grid": n_grid, "fwd_ms": fwd, "fwdbwd_ms": both,
            "bytes_per_particle": estimate_memory(1, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="only 20k particles on 64^3")
    args = parser.parse_args()
    wp.init()
    cases = [(20_000, 64)] if args.quick else [(n, g) for n in (5_000, 20_000, 100_000) for g in (32, 64, 128)]
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"device {args.device} ({wp.get_device(args.device).name}), warp {wp.__version__}")
    print("| particles | grid | forward ms/substep | substeps/s | fwd+bwd ms/substep | bytes/particle |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, g in cases:
        r = bench(n, g, args.device, repeats=20 if n <= 20_000 else 10)
        print(f"| {r['particles']} | {g}^3 | {r['fwd_ms']:.1f} | {1e3 / r['fwd_ms']:.0f} | {r['fwdbwd_ms']:.1f} | "
              f"{r['bytes_per_particle']} |", flush=True)


if __name__ == "__main__":
    main()
