"""Physical parameters being learned: quantities in SI units with bounds, laid out as one global
value, one value per region box, or one value per particle.

Each is updated in an unconstrained coordinate u that fits its range: u = log(theta) for a
positive quantity that spans orders of magnitude (E, density), u = logit((theta - a) / (b - a))
for one that lives in an open interval (a, b) (Poisson's ratio, in (0, 0.5)), so that a step of
the same size in u is as meaningful at any value and can never leave the range."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from invgfx.dreamphysics.errors import DreamPhysicsError

LAYOUTS = ("global", "regions", "particles")
OPEN_INTERVALS = {"nu": (0.0, 0.5)}  # parameters that live in an interval: updated through a logit


@dataclass
class PhysicalParameter:
    """A learned quantity (e.g. E in Pa, nu, density in kg/m^3).

    value: (K,) float32 leaf tensor with requires_grad, in SI units: K = 1 ("global"),
        R + 1 ("regions": value[0] outside every box, value[r + 1] inside box r; later boxes
        win where boxes overlap, as PhysGaussian's additional_material_params), or N ("particles").
    lo, hi: bounds (0 < lo <= hi, inside the interval if there is one); every update ends
        clamped to them.
    boxes: (R, 2, 3) min and max corners in m, for "regions".
    interval: (a, b): the value lives in the open interval and is updated through
        u = logit((theta - a) / (b - a)); None: a positive value updated through u = log(theta).
    lr: this parameter's learning rate in u (None: the run's), annealed with the run's schedule.
    """

    name: str
    layout: str
    value: Tensor
    lo: float
    hi: float
    boxes: Tensor | None = None
    interval: tuple[float, float] | None = None
    lr: float | None = None

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise DreamPhysicsError(f"parameter {self.name}: layout {self.layout!r} is not one of {LAYOUTS}")
        if self.interval is None and not 0 < self.lo <= self.hi:
            raise DreamPhysicsError(f"parameter {self.name}: bounds [{self.lo}, {self.hi}] must satisfy 0 < lo <= hi "
                                    "(updates are in the log domain)")
        if self.interval is not None and not self.interval[0] < self.lo <= self.hi < self.interval[1]:
            a, b = self.interval
            raise DreamPhysicsError(f"parameter {self.name}: bounds [{self.lo}, {self.hi}] must lie strictly inside "
                                    f"({a:g}, {b:g}), its range (e.g. {self.name}:{a + 0.02 * (b - a):g}:{b - 0.02 * (b - a):g})")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise DreamPhysicsError(f"parameter {self.name}: learning rate lr={self.lr} must be a positive number")
        value = torch.as_tensor(self.value, dtype=torch.float32).detach().reshape(-1)
        if bool(((value < self.lo) | (value > self.hi)).any()):
            raise DreamPhysicsError(f"parameter {self.name}: initial value(s) in [{value.min():.4g}, {value.max():.4g}] "
                                    f"are outside the bounds [{self.lo:.4g}, {self.hi:.4g}]")
        if self.layout == "regions":
            if self.boxes is None or self.boxes.ndim != 3 or self.boxes.shape[1:] != (2, 3):
                raise DreamPhysicsError(f"parameter {self.name}: regions need boxes of shape (R, 2, 3) (min, max corners)")
            if len(value) != len(self.boxes) + 1:
                raise DreamPhysicsError(f"parameter {self.name}: {len(value)} values for {len(self.boxes)} boxes; "
                                        "give one for outside the boxes, then one per box")
        if self.layout == "global" and len(value) != 1:
            raise DreamPhysicsError(f"parameter {self.name}: a global parameter has one value, got {len(value)}")
        self.value = value.clone().requires_grad_(True)

    def per_particle(self, positions: Tensor) -> Tensor:
        """(N,) values at particles `positions` (N, 3) m; differentiable w.r.t. `value`."""
        n = positions.shape[0]
        if self.layout == "global":
            return self.value.expand(n)
        if self.layout == "particles":
            if len(self.value) != n:
                raise DreamPhysicsError(f"parameter {self.name}: has {len(self.value)} per-particle values, the scene {n} particles")
            return self.value
        return self.value[region_index(positions, self.boxes.to(positions))]

    @torch.no_grad()
    def clamp_(self) -> None:
        self.value.clamp_(self.lo, self.hi)

    def to_u(self, theta: Tensor) -> Tensor:
        """The unconstrained coordinate of values theta (module docstring)."""
        if self.interval is None:
            return theta.log()
        a, b = self.interval
        return torch.logit((theta - a) / (b - a))

    def from_u(self, u: Tensor) -> Tensor:
        """Values theta of coordinates u (inverse of `to_u`)."""
        if self.interval is None:
            return u.exp()
        a, b = self.interval
        return a + (b - a) * torch.sigmoid(u)

    def moved(self, theta: Tensor, step: Tensor) -> Tensor:
        """theta moved by `step` in u: exp(step) theta for log (exact for a zero step, which the
        round trip through log would not be), from_u(to_u(theta) + step) for a logit."""
        if self.interval is None:
            return theta * torch.exp(step)
        return torch.where(step == 0, theta, self.from_u(self.to_u(theta) + step))

    def slope(self, theta: Tensor) -> Tensor:
        """dtheta/du at theta, so that dL/du = slope * dL/dtheta."""
        if self.interval is None:
            return theta
        a, b = self.interval
        return (theta - a) * (b - theta) / (b - a)

    def summary(self) -> dict[str, float]:
        """{name: value} for a global parameter; geometric mean, min and max otherwise."""
        v = self.value.detach()
        if self.layout == "global":
            return {self.name: float(v[0])}
        return {f"{self.name}_gmean": float(v.log().mean().exp()), f"{self.name}_min": float(v.min()),
                f"{self.name}_max": float(v.max())}


def region_index(positions: Tensor, boxes: Tensor) -> Tensor:
    """(N,) long: 1 + the last box (R, 2, 3) that contains each position (N, 3), 0 if none."""
    inside = ((positions[:, None] >= boxes[None, :, 0]) & (positions[:, None] <= boxes[None, :, 1])).all(-1)  # (N, R)
    ranks = torch.arange(1, len(boxes) + 1, device=positions.device)
    return (inside * ranks).max(1).values if len(boxes) else torch.zeros(len(positions), dtype=torch.long)


def scalar(name: str, value: float, lo: float, hi: float, lr: float | None = None) -> PhysicalParameter:
    """One global value; the coordinate from OPEN_INTERVALS by name (else log)."""
    return PhysicalParameter(name, "global", torch.tensor([value]), lo, hi, interval=OPEN_INTERVALS.get(name), lr=lr)


def regions(name: str, outside: float, boxes, values, lo: float, hi: float, lr: float | None = None) -> PhysicalParameter:
    """One value outside the boxes, one per box; boxes: (R, 2, 3) or a list of (min xyz, max xyz) in m."""
    return PhysicalParameter(name, "regions", torch.tensor([outside, *values]), lo, hi,
                             torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 2, 3),
                             interval=OPEN_INTERVALS.get(name), lr=lr)


def field(name: str, values: Tensor, lo: float, hi: float, lr: float | None = None) -> PhysicalParameter:
    """One value per particle, values (N,)."""
    return PhysicalParameter(name, "particles", values, lo, hi, interval=OPEN_INTERVALS.get(name), lr=lr)


class ParameterSet:
    """The learned parameters by name, in insertion order."""

    def __init__(self, params: list[PhysicalParameter]):
        self.params = {p.name: p for p in params}
        if len(self.params) != len(params):
            raise DreamPhysicsError(f"parameter names must be unique, got {[p.name for p in params]}")

    def __getitem__(self, name: str) -> PhysicalParameter:
        if name not in self.params:
            raise DreamPhysicsError(f"no learned parameter {name!r}; the set has {list(self.params)}")
        return self.params[name]

    def __iter__(self):
        return iter(self.params.values())

    def __contains__(self, name: str) -> bool:
        return name in self.params

    def summary(self) -> dict[str, float]:
        return {k: v for p in self for k, v in p.summary().items()}

    def jittered(self, sigma: float, generator: torch.Generator) -> ParameterSet:
        """A view whose every value is moved by sigma xi in its coordinate u, xi ~ N(0, 1) per
        element, kept inside the bounds: theta exp(sigma xi) for a log coordinate. The view is a
        differentiable function of the leaves: for a log coordinate theta' = theta x a constant
        factor, so theta dL/dtheta of a loss of the view is dL/dlog(theta') at the jittered theta';
        for a logit the view is theta_j + (theta - theta_0) slope(theta_j) / slope(theta_0), with
        theta_0 the value now and theta_j the jittered one, so that slope(theta_0) dL/dtheta is
        dL/du at theta_j. Averaged over xi, that is the gradient of the loss
        smoothed by a kernel of width sigma in u (randomised smoothing), which steps over local
        minima narrower than about sigma."""
        params = []
        for p in self:
            value = p.value.detach()
            noise = sigma * torch.randn(value.shape, generator=generator)
            jittered = p.from_u(p.to_u(value) + noise).clamp(p.lo, p.hi)
            view = copy.copy(p)
            view.value = (p.value * (jittered / value) if p.interval is None
                          else jittered + (p.value - value) * (p.slope(jittered) / p.slope(value)))
            params.append(view)
        return ParameterSet(params)

    def state_dict(self) -> dict[str, Tensor]:
        return {p.name: p.value.detach().clone() for p in self}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if set(state) != set(self.params):
            raise DreamPhysicsError(f"checkpoint has parameters {sorted(state)}, this run learns {sorted(self.params)}")
        for name, value in state.items():
            if value.shape != self.params[name].value.shape:
                raise DreamPhysicsError(f"checkpoint parameter {name} has shape {tuple(value.shape)}, "
                                        f"this run {tuple(self.params[name].value.shape)}")
            self.params[name].value.copy_(value)

    def to_json(self) -> dict:
        """{name: {"layout", "value" (float or list), "bounds", "boxes"?}} in SI units."""
        out = {}
        for p in self:
            v = p.value.detach().tolist()
            out[p.name] = {"layout": p.layout, "value": v[0] if p.layout == "global" else v, "bounds": [p.lo, p.hi],
                           "coordinate": "log" if p.interval is None else f"logit on ({p.interval[0]:g}, {p.interval[1]:g})"}
            if p.lr is not None:
                out[p.name]["lr"] = p.lr
            if p.boxes is not None:
                out[p.name]["boxes"] = p.boxes.tolist()
        return out
