"""Renderer speed and memory on this machine, torch and numba backends side by side: prints a markdown table.

The scene is the procedural ball with N Gaussians, framed to fill most of the image, as a solid
object renders; gradients flow to means, scales, rotations, opacities and colours. In each case's
process the two backends run interleaved (torch, numba, numba, torch, ...), so a machine whose
load changes slows both alike; times are medians, wall and CPU (all threads). Peak memory (max
RSS of one step over the RSS before it, after a tiny render has loaded the code; Linux's
/proc/self/clear_refs) is measured in a separate process per backend, so it is each backend's own. "ns/contribution" is median wall time
over the number of (pixel, Gaussian) contributions composited, the same for both backends. Each
case runs with torch on 2 threads and on 1 (`torch.set_num_threads`; the numba backend uses as
many threads as torch): on a machine whose other core is busy, a 2-thread OpenMP region waits
for its second thread to be scheduled, and 1 thread is then the faster. The numba backend's compile time is measured in fresh
processes with an empty numba cache (first use) and then with that cache warm.

    python benchmarks/bench_render.py            # the issue's cases
    python benchmarks/bench_render.py --quick    # smaller, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

CASES = [  # (Gaussians, image side, mode)
    (20_000, 256, "fwd"),
    (20_000, 256, "fwd+bwd"),
    (100_000, 512, "fwd"),
    (100_000, 512, "fwd+bwd"),
]
QUICK = [(5_000, 128, "fwd"), (5_000, 128, "fwd+bwd")]
REFERENCE = (5_000, 64)  # the dense reference, fwd+bwd: 20k at 128^2 needs 22 GB
BACKENDS = ("torch", "numba")


def _scene(n: int, side: int, grad: bool):
    """The ball's leaves (means, quats, log scales, opacity logits, SH) and its camera."""
    from invgfx.scenes import ball
    from invgfx.splat.camera import orbit_camera

    cloud = ball(seed=0, n_gaussians=n).cloud
    cam = orbit_camera(0.6, 0.3, 1.9, width=side, height=side, fov_y=math.radians(40))
    leaves = [t.clone().requires_grad_(grad) for t in (cloud.means, cloud.quats, cloud.log_scales, cloud.opacity_logits, cloud.sh)]
    return leaves, cam


def _step(leaves, cam, side: int, mode: str, backend: str):
    """One render (and backward, for fwd+bwd) of the scene; returns the RenderResult."""
    import torch

    from invgfx.splat.geometry import covariance_from_quat_scale
    from invgfx.splat.reference import render_reference
    from invgfx.splat.render import render_gaussians

    means, quats, log_scales, logits, sh = leaves
    with torch.set_grad_enabled("bwd" in mode):
        if backend == "reference":
            out = render_reference(means, torch.sigmoid(logits), sh, covariance_from_quat_scale(quats, log_scales.exp()),
                                   cam.viewmat, cam.K, side, side)
        else:
            out = render_gaussians(means, torch.sigmoid(logits), sh, cam.viewmat, cam.K, side, side, quats=quats,
                                   scales=log_scales.exp(), backend=backend)
        if "bwd" in mode:
            (out.rgb.square().sum() + out.alpha.sum()).backward()
    return out


def _contributions(leaves, cam, side: int) -> int:
    """(pixel, Gaussian) pairs composited: the torch path's entry list, the same rules as numba's."""
    import torch

    from invgfx.splat import render as r
    from invgfx.splat.geometry import covariance_from_quat_scale

    means, quats, log_scales, logits, _ = (t.detach() for t in leaves)
    opac = torch.sigmoid(logits)
    proj = r.project_gaussians(means, covariance_from_quat_scale(quats, log_scales.exp()), opac, cam.viewmat, cam.K,
                               side, side)
    vis = proj.visible.nonzero().squeeze(1)
    order = torch.argsort(proj.depths[vis])
    gauss, tile_id = r._tile_pairs(proj.means2d[vis][order], proj.extents[vis][order], side, side, 8)
    return len(r._contributing_entries(proj.means2d[vis], proj.conics[vis], opac[vis], order[gauss], tile_id, side,
                                       side, 8).pix)


def run_times(n: int, side: int, mode: str, repeats: int) -> dict:
    """Interleaved timings of both backends in this process."""
    leaves, cam = _scene(n, side, "bwd" in mode)
    for backend in BACKENDS:
        out = _step(leaves, cam, side, mode, backend)  # warm-up (and numba's cache load)
    wall = {b: [] for b in BACKENDS}
    cpu = {b: [] for b in BACKENDS}
    for i in range(repeats):
        for backend in BACKENDS if i % 2 == 0 else BACKENDS[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            _step(leaves, cam, side, mode, backend)
            cpu[backend].append(1000 * (time.process_time() - c0))
            wall[backend].append(1000 * (time.perf_counter() - t0))
    return {"n": n, "side": side, "mode": mode, "repeats": repeats, "coverage": float(out.alpha.detach().mean()),
            "contributions": _contributions(leaves, cam, side),
            **{f"{b}_wall_ms": statistics.median(wall[b]) for b in BACKENDS},
            **{f"{b}_cpu_ms": statistics.median(cpu[b]) for b in BACKENDS}}


def _rss_kb(field: str) -> int:
    """VmRSS or VmHWM (peak since the last reset) of this process, in kB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def run_memory(n: int, side: int, mode: str, backend: str, repeats: int) -> dict:
    """Peak extra memory of one step of one backend (after a tiny render, so that imports and
    numba's compiled code are not counted) and its median wall time over `repeats` more steps."""
    tiny, tiny_cam = _scene(50, 16, "bwd" in mode)
    _step(tiny, tiny_cam, 16, mode, backend)
    leaves, cam = _scene(n, side, "bwd" in mode)
    base = _rss_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    out = _step(leaves, cam, side, mode, backend)
    peak_mb = (_rss_kb("VmHWM") - base) / 1024
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _step(leaves, cam, side, mode, backend)
        times.append(1000 * (time.perf_counter() - t0))
    return {"peak_mb": peak_mb, "wall_ms": statistics.median(times) if times else None,
            "coverage": float(out.alpha.detach().mean())}


def run_first_use() -> dict:
    """Seconds from importing the numba backend to the end of a first small fwd+bwd render."""
    leaves, cam = _scene(500, 32, True)
    t0 = time.perf_counter()
    import invgfx.splat.numba_backend  # noqa: F401

    _step(leaves, cam, 32, "fwd+bwd", "numba")
    return {"first_s": time.perf_counter() - t0}


def _sub(*args: str, env: dict | None = None) -> dict | None:
    """Run this script on `args` in a fresh process; its last stdout line, parsed."""
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        print(f"{' '.join(args)} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small cases only")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", default="2,1", help="torch (and numba) thread counts to run each case with")
    parser.add_argument("--torch-threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--times", nargs=3, metavar=("N", "SIDE", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=4, metavar=("N", "SIDE", "MODE", "BACKEND"), help=argparse.SUPPRESS)
    parser.add_argument("--first-use", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    if args.times:
        print(json.dumps(run_times(int(args.times[0]), int(args.times[1]), args.times[2], args.repeats)))
        return
    if args.memory:
        n, side, mode, backend = args.memory
        print(json.dumps(run_memory(int(n), int(side), mode, backend, args.repeats)))
        return
    if args.first_use:
        print(json.dumps(run_first_use()))
        return
    import torch

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cold, warm = _sub("--first-use", env=env), _sub("--first-use", env=env)
    rows = []
    for n, side, mode in QUICK if args.quick else CASES:
        repeats = 3 if n >= 100_000 else args.repeats
        for threads in args.threads.split(","):
            row = _sub("--times", str(n), str(side), mode, "--repeats", str(repeats), "--torch-threads", threads)
            if row is None:
                continue
            for backend in BACKENDS:
                mem = _sub("--memory", str(n), str(side), mode, backend, "--repeats", "0", "--torch-threads", threads)
                row[f"{backend}_peak_mb"] = mem["peak_mb"] if mem else float("nan")
            rows.append({**row, "threads": int(threads)})
    n_ref, side_ref = (2_000, 64) if args.quick else REFERENCE
    ref = _sub("--memory", str(n_ref), str(side_ref), "fwd+bwd", "reference", "--repeats", "3")
    load_after = os.getloadavg()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, python "
          f"{platform.python_version()}; load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    if cold and warm:
        print(f"numba first use (import + first 500-Gaussian fwd+bwd): {cold['first_s']:.1f} s with an empty cache "
              f"(compiling), {warm['first_s']:.1f} s with the cache warm")
    print("| Gaussians | image | pass | threads | contributions | torch ms wall / CPU | numba ms wall / CPU "
          "| torch ns/contribution | numba ns/contribution | torch / numba (wall) | peak extra MB torch / numba "
          "| coverage |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ns = {b: 1e6 * r[f"{b}_wall_ms"] / max(r["contributions"], 1) for b in BACKENDS}
        print(f"| {r['n']:,} | {r['side']}x{r['side']} | {r['mode']} | {r['threads']} | {r['contributions']:,} "
              f"| {r['torch_wall_ms']:.1f} / {r['torch_cpu_ms']:.1f} | {r['numba_wall_ms']:.1f} / {r['numba_cpu_ms']:.1f} "
              f"| {ns['torch']:.0f} | {ns['numba']:.0f} | {r['torch_wall_ms'] / r['numba_wall_ms']:.1f} "
              f"| {r['torch_peak_mb']:.0f} / {r['numba_peak_mb']:.0f} | {r['coverage']:.2f} |")
    if ref:
        print(f"dense reference, {n_ref:,} Gaussians at {side_ref}x{side_ref}, fwd+bwd: {ref['wall_ms']:,.0f} ms, "
              f"peak extra {ref['peak_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
