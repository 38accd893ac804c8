"""Log-domain updates of positive parameters (paper section 3.4, Eq. 5).

E ranges over orders of magnitude (1e4 .. 1e7 Pa), so updates act on log(theta); a step then
changes theta by the same factor at any magnitude. Three rules, all descent, all followed by
clamping to the parameter's bounds:

- "eq5": the paper's Eq. 5 as written, log(theta) <- log(theta) - lr dL/dtheta (the gradient
  w.r.t. theta itself, applied to log theta).
- "reference": what the DreamPhysics code does: per-element dL/dtheta min-max normalised to
  [-0.5, 0.5], then log10(theta) <- log10(theta) - lr g_n (lr 1.0 there). Normalisation keeps
  only the ordering of the gradients, not their common sign: the smallest element always
  goes up by 10^(lr/2). For a single value (min = max, 0/0 in their code) we use g_n = sign(g)/2.
- "adam": Adam on u = log(theta) with dL/du = theta dL/dtheta (chain rule); robust to the
  arbitrary scale of SDS gradients.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from invgfx.dreamphysics.errors import DreamPhysicsError
from invgfx.dreamphysics.params import ParameterSet

MODES = ("eq5", "reference", "adam")
# Less momentum than Adam's usual (0.9, 0.999): successive epochs see different frame groups
# and noise levels, and with beta1 = 0.9 a log-parameter overshoots its target by ~30 %.
ADAM_BETAS = (0.5, 0.9)
# Far below Adam's usual 1e-8: dL/dlog(E) of a reference loss through MPM is ~1e-9, and an eps
# of that size would silently shrink the steps tenfold.
ADAM_EPS = 1e-20


def cosine_anneal(start: float, end: float | None, epoch: int, epochs: int) -> float:
    """The value of a schedule at `epoch` (0-based) of `epochs`: constant `start` when end is None,
    else annealed from start to end along a half cosine (reached at the last epoch, kept after).
    For the learning rate: Adam with small betas steps about lr in log(theta) whatever the
    gradient's size, so a constant lr keeps a parameter rattling around its optimum by about
    +-lr/2; annealing lets it settle. Also the jitter's schedule (LearnConfig.jitter)."""
    if end is None or epochs <= 1:
        return start
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * min(epoch, epochs - 1) / (epochs - 1)))


def eq5_step(value: Tensor, grad: Tensor, lr: float) -> Tensor:
    """log(theta) - lr dL/dtheta, back in theta."""
    return value * torch.exp(-lr * grad)


def minmax_centred(grad: Tensor) -> Tensor:
    """(g - min g) / (max g - min g) - 0.5, or sign(g) / 2 where all elements are equal."""
    lo, hi = grad.min(), grad.max()
    if hi == lo:
        return 0.5 * torch.sign(grad)
    return (grad - lo) / (hi - lo) - 0.5


def reference_step(value: Tensor, grad: Tensor, lr: float) -> Tensor:
    """log10(theta) - lr minmax_centred(dL/dtheta), back in theta."""
    return value * torch.pow(10.0, -lr * minmax_centred(grad))


def adam_step(value: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: int, lr: float,
              betas: tuple[float, float] = ADAM_BETAS, eps: float = ADAM_EPS) -> tuple[Tensor, Tensor, Tensor]:
    """One Adam step (Kingma & Ba) on u = log(theta), step counted from 1. Returns (theta, m, v)."""
    g = value * grad  # dL/dlog(theta)
    m = betas[0] * m + (1 - betas[0]) * g
    v = betas[1] * v + (1 - betas[1]) * g * g
    m_hat = m / (1 - betas[0] ** step)
    v_hat = v / (1 - betas[1] ** step)
    return value * torch.exp(-lr * m_hat / (v_hat.sqrt() + eps)), m, v


class LogUpdate:
    """Applies one of MODES to every parameter of a ParameterSet that has a gradient."""

    def __init__(self, mode: str = "adam", lr: float = 0.1, betas: tuple[float, float] = ADAM_BETAS, eps: float = ADAM_EPS):
        if mode not in MODES:
            raise DreamPhysicsError(f"update mode {mode!r} is not one of {MODES}")
        if not (lr > 0 and math.isfinite(lr)):
            raise DreamPhysicsError(f"learning rate lr={lr}: must be a positive number")
        self.mode, self.lr, self.betas, self.eps = mode, lr, betas, eps
        self.state: dict[str, dict] = {}  # Adam moments per parameter name

    @torch.no_grad()
    def step(self, params: ParameterSet, lr: float | None = None) -> None:
        """One update of every parameter with a gradient, at learning rate `lr` (default self.lr)."""
        lr = self.lr if lr is None else lr
        for p in params:
            if p.value.grad is None:
                continue
            grad = p.value.grad
            if not bool(torch.isfinite(grad).all()):
                raise DreamPhysicsError(f"parameter {p.name}: non-finite gradient; lower the learning rate or the "
                                        "prior's scale, or check the simulation for instability")
            if self.mode == "eq5":
                new = eq5_step(p.value, grad, lr)
            elif self.mode == "reference":
                new = reference_step(p.value, grad, lr)
            else:
                s = self.state.setdefault(p.name, {"step": 0, "m": torch.zeros_like(grad), "v": torch.zeros_like(grad)})
                s["step"] += 1
                new, s["m"], s["v"] = adam_step(p.value, grad, s["m"], s["v"], s["step"], lr, self.betas, self.eps)
            p.value.copy_(new)
            p.clamp_()
            p.value.grad = None

    def state_dict(self) -> dict:
        return {"mode": self.mode, "state": {k: dict(v) for k, v in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        if state["mode"] != self.mode:
            raise DreamPhysicsError(f"checkpoint was written with update mode {state['mode']!r}, this run uses {self.mode!r}")
        self.state = {k: dict(v) for k, v in state["state"].items()}
