"""The optimisation loop of DreamPhysics (paper section 3) over any differentiable simulator.

    simulate(params, frames) -> video (T, 3, H, W) in [0, 1]

renders the simulated frames `frames` ((T,) long indices at the simulation frame rate, frame 0
= initial state) with the current parameters. It must start from the initial state on every
call (the state reset that the reference code misses after its preview render) and is where
truncated or full BPTT is chosen. Each epoch feeds group epoch mod M (frame interpolation),
evaluates the prior, back-propagates to the parameters and takes one step in their coordinates.

With an output folder, every epoch rewrites (atomically) `checkpoint.pt` (parameters,
optimiser and random state, history), `log.csv` and `params.json`; `resume=True` continues
from the checkpoint exactly as if the run had not stopped.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from invgfx.atomic import atomic_output, write_atomic
from invgfx.dreamphysics.errors import DreamPhysicsError
from invgfx.dreamphysics.frames import group_frames, group_of_epoch
from invgfx.dreamphysics.params import ParameterSet
from invgfx.dreamphysics.prior import Condition, VideoPrior
from invgfx.dreamphysics.updates import ADAM_BETAS, LogUpdate, cosine_anneal

CHECKPOINT = "checkpoint.pt"
LOG = "log.csv"
PARAMS = "params.json"
SEARCH = "search.csv"

Simulate = Callable[[ParameterSet, Tensor], Tensor]


@dataclass
class LearnConfig:
    """epochs: total epochs (a resumed run may raise it); groups M and frames_per_group T:
    M T frames are simulated, group i = frames i, i + M, ..., i + M (T - 1) (the paper: M = 8,
    T = 16 for ModelScope, 3 x 25 for SVD); update: "eq5" | "reference" | "adam" (see
    updates.py) with learning rate lr (in each parameter's coordinate: log theta, the logit for
    nu; log10 for "reference"), annealed
    to lr_final over the epochs along a half cosine if lr_final is set (updates.cosine_anneal), and,
    for Adam, betas; seed: of the prior's noise; search: before the first epoch, evaluate the
    prior at the start and at this many log-spaced values of E between its bounds and start from
    the best (`search_start`; 0: off); jitter: sigma of the jitter of every parameter in its coordinate
    before each epoch's simulation (`ParameterSet.jittered`), annealed to 0 at the last epoch
    along a half cosine: Gaussian smoothing of the loss in u (log theta for E), coarse to fine, for
    landscapes with narrow local minima (a plant collapsing at 1e4-3e4 Pa: docs/video-prior.md;
    0: off); stop_flat: stop once every parameter's |dL/du| has stayed below stop_flat times its
    largest so far for FLAT_EPOCHS epochs (Adam would keep stepping about lr on a flat loss,
    whatever the sign of a vanishing gradient; 0: off)."""

    epochs: int = 50
    groups: int = 8
    frames_per_group: int = 16
    update: str = "adam"
    lr: float = 0.1
    lr_final: float | None = None
    betas: tuple[float, float] = ADAM_BETAS
    seed: int = 0
    search: int = 0
    jitter: float = 0.0
    stop_flat: float = 0.0


FLAT_EPOCHS = 3  # epochs in a row below LearnConfig.stop_flat before a run stops

def learn(simulate: Simulate, params: ParameterSet, prior: VideoPrior, config: LearnConfig,
          condition: Condition = Condition(), out_dir: str | Path | None = None, resume: bool = False,
          on_epoch: Callable[[int, ParameterSet], None] | None = None, progress: bool = True) -> list[dict]:
    """Learn `params` in place; returns the history, one dict per epoch: epoch, group, loss (at
    the parameters before the step), seconds, and the parameters' summary after the step.
    `condition` is passed to the prior with its `frames` set to each epoch's group;
    `on_epoch(epoch, params)` runs after each step (e.g. to write a preview video). Each entry
    also has dL/du_NAME (`gradient_sizes`): Adam steps about lr whatever the gradient's size, so
    this is where a flat loss shows."""
    from tqdm import tqdm

    if not 0 <= config.stop_flat < 1:
        raise DreamPhysicsError(f"stop_flat={config.stop_flat} (--stop-flat): a fraction in [0, 1), e.g. 0.01; 0 is off")
    update = LogUpdate(config.update, config.lr, config.betas)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict] = []
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and (out / CHECKPOINT).exists() and not resume:
        raise DreamPhysicsError(f"{out / CHECKPOINT} exists: pass resume (--resume) to continue it, or choose another output folder")
    if resume:
        if out is None:
            raise DreamPhysicsError("resume needs the output folder (out_dir, --out) of the run to continue")
        if not (out / CHECKPOINT).exists():
            raise DreamPhysicsError(f"resume: no checkpoint {CHECKPOINT} in {out}; run without resume to start")
        history = _load_checkpoint(out / CHECKPOINT, config, params, update, generator)
    if config.search and not history:
        rows = search_start(simulate, params, prior, config, condition=condition, progress=progress)
        if out is not None:
            _write_csv(out / SEARCH, rows)

    bar = tqdm(range(len(history), config.epochs), initial=len(history), total=config.epochs,
               desc="learn-physics", disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        group = group_of_epoch(epoch, config.groups)
        frames = group_frames(group, config.groups, config.frames_per_group)
        sigma = cosine_anneal(config.jitter, 0.0, epoch, config.epochs)
        video = simulate(params.jittered(sigma, generator) if sigma > 0 else params, frames)
        if video.ndim != 4 or video.shape[:2] != (len(frames), 3):
            raise DreamPhysicsError(f"simulate returned a video of shape {tuple(video.shape)}, "
                                    f"expected ({len(frames)}, 3, H, W) for frames {frames.tolist()}")
        loss = prior.loss(video, replace(condition, frames=frames), generator)
        loss.backward()
        slopes = gradient_sizes(params)
        update.step(params, cosine_anneal(config.lr, config.lr_final, epoch, config.epochs))
        history.append({"epoch": epoch, "group": group, "loss": float(loss.detach()), "seconds": time.perf_counter() - start,
                        **params.summary(), **slopes})
        bar.set_postfix({k: f"{v:.4g}" for k, v in history[-1].items() if k not in ("epoch", "group", "seconds")})
        if out is not None:
            _save(out, config, params, update, generator, history)
        if on_epoch is not None:
            on_epoch(epoch, params)
        if config.stop_flat and flat(history, config.stop_flat):
            import warnings

            warnings.warn(f"learn: stopped after epoch {epoch}: |dL/du| of every parameter stayed below {config.stop_flat:g} "
                          f"x its largest for {FLAT_EPOCHS} epochs (the loss is flat here: converged, or on a plateau; "
                          "see dL/du_* in log.csv)", stacklevel=2)
            break
    return history


def flat(history: list[dict], ratio: float, epochs: int = FLAT_EPOCHS) -> bool:
    """Has every dL/du_* of `history` been below ratio x its largest |value| for the last `epochs` entries?"""
    keys = [k for k in history[-1] if k.startswith("dL/du_")]
    if len(history) <= epochs or not keys:
        return False
    for key in keys:
        sizes = [abs(h[key]) for h in history if key in h]
        if max(sizes[-epochs:]) > ratio * max(sizes):  # all zero (a plateau to float precision) is flat
            return False
    return True


def search_start(simulate: Simulate, params: ParameterSet, prior: VideoPrior, config: LearnConfig, name: str = "E",
                 condition: Condition = Condition(), progress: bool = True) -> list[dict]:
    """A coarse search for where to start, for losses with plateaus (a squashed ball, a plant too
    stiff to move: docs/video-prior.md), where gradient steps from a far start wander: the prior's
    judgement (`VideoPrior.judge`, its loss unless it is an SDS prior's residual), averaged over all M groups with the same noise draws, at the start and at
    `config.search` log-spaced values of the global parameter `name` between its bounds, without
    gradients. Sets `name` to the best; returns one {name, "loss"} per value, the start first."""
    import math

    from tqdm import tqdm

    p = params[name] if name in params else None
    if p is None or p.layout != "global":
        raise DreamPhysicsError(f"search: needs {name} learned as one global value (--learn {name}:LO:HI), "
                                f"not {'absent' if p is None else p.layout}")
    start = float(p.value.detach()[0])
    values = [start] + torch.logspace(math.log10(p.lo), math.log10(p.hi), config.search, dtype=torch.float64).tolist()
    rows = []
    with torch.no_grad():
        for value in tqdm(values, desc=f"search {name}", disable=not progress):
            p.value.fill_(value)
            losses = []
            for group in range(config.groups):
                frames = group_frames(group, config.groups, config.frames_per_group)
                video = simulate(params, frames)
                losses.append(float(prior.judge(video, replace(condition, frames=frames),
                                                torch.Generator().manual_seed(config.seed))))
            rows.append({name: value, "loss": sum(losses) / len(losses)})
        p.value.fill_(min(rows, key=lambda r: r["loss"])[name])
    return rows


def gradient_sizes(params: ParameterSet) -> dict[str, float]:
    """{"dL/du_NAME": the gradient of the loss in each parameter's update coordinate u (log E,
    logit nu, ...; signed for one value, the root mean square over the elements of a field, whose
    signs would cancel)} for the parameters with a gradient. Its size, against earlier epochs',
    tells a flat loss from a steep one, which Adam's steps do not."""
    out = {}
    for p in params:
        if p.value.grad is not None:
            g = p.slope(p.value.detach()) * p.value.grad
            out[f"dL/du_{p.name}"] = float(g[0]) if p.layout == "global" else float(g.square().mean().sqrt())
    return out


def _write_csv(path: Path, rows: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))  # a resumed older run lacks some
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue().encode())


def _save(out: Path, config: LearnConfig, params: ParameterSet, update: LogUpdate, generator: torch.Generator,
          history: list[dict]) -> None:
    with atomic_output(out / CHECKPOINT) as tmp:
        torch.save({"config": asdict(config), "params": params.state_dict(), "update": update.state_dict(),
                    "generator": generator.get_state(), "history": history, "settings": _settings(params)}, tmp)
    _write_csv(out / LOG, history)
    write_atomic(out / PARAMS, json.dumps(params.to_json(), indent=1).encode())


def _load_checkpoint(path: Path, config: LearnConfig, params: ParameterSet, update: LogUpdate,
                     generator: torch.Generator) -> list[dict]:
    """Restore parameters, optimiser and random state from `path`; returns its history."""
    try:
        ckpt = torch.load(path, weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which and why
        raise DreamPhysicsError(f"{path}: cannot read it as a learn-physics checkpoint ({err})") from None
    saved = ckpt["config"]
    for key in ("groups", "frames_per_group", "update", "lr", "lr_final", "betas", "seed", "jitter"):
        # a key the checkpoint lacks was written before the setting existed: its default then
        was = saved.get(key, getattr(LearnConfig, key))
        if _plain(was) != _plain(getattr(config, key)):
            raise DreamPhysicsError(f"{path}: was written with {key}={was!r}, this run has {key}="
                                    f"{getattr(config, key)!r}; resume with the same settings (only epochs may change)")
    # per parameter: a checkpoint from before the coordinates were kept stepped every one in log(theta)
    was = ckpt.get("settings") or {name: {"coordinate": "log", "lr": None} for name in ckpt["params"]}
    now = _settings(params)
    for name in sorted(set(was) & set(now)):
        if was[name] != now[name]:
            raise DreamPhysicsError(f"{path}: parameter {name} was learnt with {was[name]}, this run with {now[name]}; "
                                    "resume with the same --learn (coordinate and lr)")
    params.load_state_dict(ckpt["params"])
    update.load_state_dict(ckpt["update"])
    generator.set_state(ckpt["generator"])
    return ckpt["history"]


def _settings(params: ParameterSet) -> dict:
    """{name: {"coordinate", "lr"}}: what a resumed run must share with the checkpoint."""
    return {p.name: {"coordinate": "log" if p.interval is None else f"logit{tuple(p.interval)}", "lr": p.lr} for p in params}


def _plain(value):
    """Tuples as lists, so a config read from YAML/JSON compares equal to one built in Python."""
    return list(value) if isinstance(value, (tuple, list)) else value
