"""Updates in each parameter's unconstrained coordinate u (paper section 3.4, Eq. 5).

E ranges over orders of magnitude (1e4 .. 1e7 Pa), so its updates act on u = log(theta); a step
then changes theta by the same factor at any magnitude. Poisson's ratio lives in (0, 0.5) and
acts through a logit instead (params.PhysicalParameter.to_u), so no step can leave that range.
Three rules, all descent, all followed by clamping to the parameter's bounds:

- "eq5": the paper's Eq. 5 as written, u <- u - lr dL/dtheta (the gradient w.r.t. theta
  itself, applied to u = log theta).
- "reference": what the DreamPhysics code does: per-element dL/dtheta min-max normalised to
  [-0.5, 0.5], then log10(theta) <- log10(theta) - lr g_n (lr 1.0 there), i.e.
  u <- u - ln(10) lr g_n. Normalisation keeps only the ordering of the gradients, not their
  common sign: the smallest element always goes up by 10^(lr/2). For a single value (min = max,
  0/0 in their code) we use g_n = sign(g)/2.
- "adam": Adam on u with dL/du = (dtheta/du) dL/dtheta (chain rule; theta dL/dtheta for log);
  robust to the arbitrary scale of SDS gradients.
Each parameter steps with its own learning rate where it has one (`PhysicalParameter.lr`),
scaled by the run's schedule.
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


def eq5_step(grad: Tensor, lr: float) -> Tensor:
    """The step in u: -lr dL/dtheta (u = log theta: Eq. 5)."""
    return -lr * grad


def minmax_centred(grad: Tensor) -> Tensor:
    """(g - min g) / (max g - min g) - 0.5, or sign(g) / 2 where all elements are equal."""
    lo, hi = grad.min(), grad.max()
    if hi == lo:
        return 0.5 * torch.sign(grad)
    return (grad - lo) / (hi - lo) - 0.5


def reference_step(grad: Tensor, lr: float) -> Tensor:
    """The step in u: -ln(10) lr minmax_centred(dL/dtheta), i.e. log10(theta) - lr g_n for u = log theta."""
    return -math.log(10.0) * lr * minmax_centred(grad)


def adam_step(grad_u: Tensor, m: Tensor, v: Tensor, step: int, lr: float,
              betas: tuple[float, float] = ADAM_BETAS, eps: float = ADAM_EPS) -> tuple[Tensor, Tensor, Tensor]:
    """One Adam step (Kingma & Ba) on u with gradient dL/du, step counted from 1. Returns (the
    step in u, m, v)."""
    m = betas[0] * m + (1 - betas[0]) * grad_u
    v = betas[1] * v + (1 - betas[1]) * grad_u * grad_u
    m_hat = m / (1 - betas[0] ** step)
    v_hat = v / (1 - betas[1] ** step)
    return -lr * m_hat / (v_hat.sqrt() + eps), m, v


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
        """One update of every parameter with a gradient, at learning rate `lr` (default self.lr;
        a parameter with its own lr steps at that times lr / self.lr, the schedule's factor)."""
        scale = 1.0 if lr is None else lr / self.lr
        for p in params:
            if p.value.grad is None:
                continue
            grad = p.value.grad
            if not bool(torch.isfinite(grad).all()):
                raise DreamPhysicsError(f"parameter {p.name}: non-finite gradient; lower the learning rate or the "
                                        "prior's scale, or check the simulation for instability")
            lr = (self.lr if p.lr is None else p.lr) * scale
            if self.mode == "eq5":
                step = eq5_step(grad, lr)
            elif self.mode == "reference":
                step = reference_step(grad, lr)
            else:
                s = self.state.setdefault(p.name, {"step": 0, "m": torch.zeros_like(grad), "v": torch.zeros_like(grad)})
                s["step"] += 1
                step, s["m"], s["v"] = adam_step(p.slope(p.value) * grad, s["m"], s["v"], s["step"], lr, self.betas, self.eps)
            p.value.copy_(p.moved(p.value, step))
            p.clamp_()
            p.value.grad = None

    def state_dict(self) -> dict:
        return {"mode": self.mode, "state": {k: dict(v) for k, v in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        if state["mode"] != self.mode:
            raise DreamPhysicsError(f"checkpoint was written with update mode {state['mode']!r}, this run uses {self.mode!r}")
        self.state = {k: dict(v) for k, v in state["state"].items()}
