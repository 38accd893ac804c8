"""The learned prior's training data: procedural scenarios simulated and rendered to short videos.

`generate(out, n_per_class, implausible_per_class, ...)` writes shards `out/shard_{k:05d}.npz`,
each with the clips of SHARD consecutive jobs: first the plausible clips, then the implausible ones
(E outside the plausible range, captioned "... with unrealistic physics"; the negative prompt of
the prior's SDS, see scenarios.py):
  video   (n, FRAMES, 3, S, S) uint8   every simulated frame, frame_dt apart
  label   (n,) int                      index into CLASSES
  caption (n,) str                      implausible clips end with NEGATIVE_SUFFIX
  E, nu   (n,) float                    Pa, -
  params  (n,) str                      JSON of everything the scenario drew
A shard is written atomically when complete, so an interrupted run resumes by skipping the
shards that exist. Shards are simulated by `workers` processes (Warp runs single-threaded on a
CPU). `load_clips(out)` concatenates them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from invgfx.dreamphysics.learned.scenarios import CLASSES, FRAMES, Scenario, scenario

SHARD = 8
SIZE = 32


def render_clip(sc: Scenario, size: int = SIZE, params=None, grad_substeps=None) -> torch.Tensor:
    """(FRAMES, 3, size, size) in [0, 1]: the scenario simulated and rendered with its camera
    (white background). params: a ParameterSet to simulate with (default: the scenario's E)."""
    from invgfx.dreamphysics.params import ParameterSet, scalar
    from invgfx.dreamphysics.physics import mpm_video

    simulate = mpm_video(sc.cloud, sc.config, width=size, height=size, grad_substeps=grad_substeps)
    params = params or ParameterSet([scalar("E", sc.E, sc.E, sc.E)])
    return simulate(params, torch.arange(FRAMES))


def _jobs(n_per_class: int, implausible_per_class: int, seed: int) -> list[tuple[str, int, bool]]:
    """(class, seed, implausible) of every clip, classes interleaved so that every shard mixes them;
    the plausible clips first, so that adding implausible ones later keeps the existing shards
    (when n_per_class * len(CLASSES) is a multiple of SHARD)."""
    base = seed * 1_000_003
    return ([(name, base + i, False) for i in range(n_per_class) for name in CLASSES]
            + [(name, base + 500_000 + i, True) for i in range(implausible_per_class) for name in CLASSES])


def _write_shard(args) -> str:
    path, jobs, size = args
    import warnings

    from invgfx.mpm import MPMError

    warnings.filterwarnings("ignore", category=RuntimeWarning)  # particles held at the domain edge
    torch.set_num_threads(1)
    videos, rows = [], []
    for name, s, implausible in jobs:
        for attempt in range(5):  # a draw that blows up (a hard push on a stiff object) is redrawn
            sc = scenario(name, s + attempt * 7_919_000_003, implausible=implausible)
            try:
                with torch.no_grad():
                    videos.append((render_clip(sc, size) * 255).round().to(torch.uint8).numpy())
                break
            except MPMError:
                continue
        else:
            raise MPMError(f"scenario {name} {s}: five draws in a row were unstable")
        rows.append(sc)
    from invgfx.atomic import atomic_output

    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, video=np.stack(videos), label=np.array([list(CLASSES).index(r.name) for r in rows]),
                caption=np.array([r.caption for r in rows]), E=np.array([r.E for r in rows]),
                nu=np.array([r.config.nu for r in rows]), params=np.array([json.dumps(r.params) for r in rows]))
    return str(path)


def generate(out: str | Path, n_per_class: int, implausible_per_class: int = 0, seed: int = 0, size: int = SIZE,
             workers: int = 2, progress: bool = True, resume: bool = True) -> list[Path]:
    """Simulate and render n_per_class plausible and implausible_per_class implausible clips of
    every class into shards under `out` (resumable: existing shards are kept; not `resume`: every
    shard is made again and other shards in `out` are removed). Returns the shard paths."""
    from multiprocessing import get_context

    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = _jobs(n_per_class, implausible_per_class, seed)
    shards = [(out / f"shard_{k // SHARD:05d}.npz", jobs[k:k + SHARD], size) for k in range(0, len(jobs), SHARD)]
    if not resume:
        for stale in set(out.glob("shard_*.npz")) - {s[0] for s in shards}:
            stale.unlink()
    todo = [s for s in shards if not (resume and s[0].exists())]
    bar = tqdm(total=len(jobs), initial=(len(shards) - len(todo)) * SHARD, desc="simulate clips", unit="clip",
               disable=not progress)
    if workers <= 1:
        for job in todo:
            _write_shard(job)
            bar.update(len(job[1]))
    else:
        # spawn: a fresh interpreter per worker (Warp and torch threads do not survive fork well)
        with get_context("spawn").Pool(workers) as pool:
            for _, job in zip(pool.imap_unordered(_write_shard, todo), todo):
                bar.update(len(job[1]))
    bar.close()
    return [s[0] for s in shards]


def load_clips(folder: str | Path) -> dict:
    """Every shard under `folder` concatenated: video (N, FRAMES, 3, S, S) uint8 tensor, label (N,)
    long, caption list[str], E (N,) float64 tensor."""
    from invgfx.dreamphysics.errors import DreamPhysicsError

    paths = sorted(Path(folder).glob("shard_*.npz"))
    if not paths:
        raise DreamPhysicsError(f"{folder}: no shard_*.npz clips; make them with `invgfx video-prior data --out {folder}`")
    parts = [np.load(p) for p in paths]
    video = torch.from_numpy(np.concatenate([p["video"] for p in parts]))
    if video.shape[1] != FRAMES:
        raise DreamPhysicsError(f"{folder}: clips have {video.shape[1]} frames, expected {FRAMES}")
    return {"video": video, "label": torch.from_numpy(np.concatenate([p["label"] for p in parts])).long(),
            "caption": [str(c) for p in parts for c in p["caption"]],
            "E": torch.from_numpy(np.concatenate([p["E"] for p in parts]))}
