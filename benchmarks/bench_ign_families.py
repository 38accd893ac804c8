"""DC-IGN on every procedural family with the one default command: the table of docs/ign.md.

For each family this runs exactly what a user types, with no per-family option:

    invgfx ign dataset --family F                          render + cache (timed)
    invgfx ign train --family F --out RUNS/F               the default recipe (timed)
    invgfx ign evaluate --checkpoint RUNS/F/... --out RUNS/F/eval --metric-points 0
    invgfx ign sweep --checkpoint RUNS/F/... --factor azimuth --out IMAGES/ign_F_default_azimuth.png

and prints one markdown table against the targets: R^2 >= 0.9 for azimuth, elevation and light on
unseen identities; azimuth novel-view MSE <= 0.6x copy-input and at least 0.2 below the
unchanged-code ratio; the thin-part read-out where a family has thin parts. Finished steps are
skipped (a rerun resumes), so an interrupted benchmark continues where it stopped.

    .venv/bin/python benchmarks/bench_ign_families.py --families teapots cars faces chairs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from invgfx.ign.shapes import FAMILIES



def run(args: list[str], log: Path) -> float:
    """Run `invgfx ARGS`, appending its output to `log`; wall seconds."""
    t0 = time.perf_counter()
    with open(log, "a") as fh:
        fh.write(f"$ invgfx {' '.join(args)}\n")
        fh.flush()
        subprocess.run([sys.executable, "-c", "import sys; from invgfx.cli import main; sys.exit(main(sys.argv[1:]))", *args], check=True,
                       stdout=fh, stderr=subprocess.STDOUT)
    return time.perf_counter() - t0


def bench_family(family: str, runs: Path, images: Path, seed: int) -> dict:
    out = runs / family
    out.mkdir(parents=True, exist_ok=True)
    times_path = out / "times.json"
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    log = out / "bench.log"
    checkpoint = out / "train" / "checkpoint.safetensors"
    seeded = ["--seed", str(seed), "ign"]
    if "render_s" not in times:
        times["render_s"] = run([*seeded, "dataset", "--family", family], log)
    if "train_s" not in times:
        times["train_s"] = run([*seeded, "train", "--family", family, "--out", str(out / "train")], log)
    times_path.write_text(json.dumps(times))
    metrics = out / "eval" / "metrics.json"
    if not metrics.exists():
        run([*seeded, "evaluate", "--checkpoint", str(checkpoint), "--out", str(out / "eval"), "--metric-points", "0"],
            log)
    sweep = images / f"ign_{family}_default_azimuth.png"
    if not sweep.exists():
        run(["ign", "sweep", "--checkpoint", str(checkpoint), "--factor", "azimuth", "--out", str(sweep)], log)
    return {**json.loads(metrics.read_text())["DC-IGN"], **times}


def table(results: dict[str, dict]) -> str:
    def f(v, spec="{:.3f}"):
        return "-" if v is None else spec.format(v)

    lines = ["| family | R^2 azimuth / elevation / light (target 0.9) | azimuth novel / copy (target <= 0.6) | "
             "unchanged / copy (target >= novel + 0.2) | thin parts kept | reconstruction MSE | rendering + training |",
             "|---|---|---:|---:|---:|---:|---|"]
    for family, r in results.items():
        ratio = r["novel_azimuth"] / r["copy_azimuth"]
        unchanged = r["unchanged_azimuth"] / r["copy_azimuth"]
        minutes = (r["render_s"] + r["train_s"]) / 60
        lines.append(f"| {family} | {f(r.get('r2_azimuth'))} / {f(r.get('r2_elevation'))} / {f(r.get('r2_light'))} | "
                     f"{ratio:.2f} | {unchanged:.2f} | {f(r.get('thin_kept'))} | {r['recon_mse']:.2e} | "
                     f"{minutes:.1f} min ({r['render_s'] / 60:.1f} + {r['train_s'] / 60:.1f}) |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    ap.add_argument("--seed", type=int, default=0, help="dataset and training seed (default: 0)")
    ap.add_argument("--runs", default="runs/families", help="run folders (default: runs/families)")
    ap.add_argument("--images", default="docs/images", help="where the azimuth sweeps go (default: docs/images)")
    args = ap.parse_args()
    runs = Path(args.runs) / f"seed{args.seed}"
    Path(args.images).mkdir(parents=True, exist_ok=True)
    results = {family: bench_family(family, runs, Path(args.images), args.seed) for family in args.families}
    print(f"\n## DC-IGN, the default command on every family (seed {args.seed})\n")
    print(table(results))
    load = os.getloadavg()
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU; "
          f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)")


if __name__ == "__main__":
    main()
