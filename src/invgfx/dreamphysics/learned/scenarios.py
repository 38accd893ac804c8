"""Procedural physics scenarios: what the learned video prior is trained on, and the scenes it judges.

A scenario is one procedural object (invgfx.scenes), a simulation config (invgfx.mpm) and a
caption. Everything random (shape, colour, camera, drop impulse, the physical parameters) is
drawn from a seed, and the physical parameters only from a *plausible range* per object class.

Units: the simulation normalises every object so that its longest side is 1 m (PhysGaussian's
preprocessing: half of the 2 m cube, `invgfx.mpm.gaussians.normalisation`), so every class is a 1 m object; densities are
real, and the ranges of E are chosen for objects of that size:

| class | material | E range (Pa) | nu | density (kg/m^3) | why this range |
|---|---|---|---|---|---|
| ball  | jelly | 3e4 - 3e5 | 0.30 - 0.45 | 1000 | firm gelatin and agar gels and soft silicone "jelly" balls: tens to hundreds of kPa. Softer gels (a dessert jelly, ~5 kPa) cannot hold a 1 m shape: their static sag rho g L / E is 30 % at 3e4 Pa already; in the range the ball squashes visibly at impact and keeps its shape |
| box   | jelly | 3e4 - 3e5 | 0.30 - 0.45 | 1000 | the same gel as a cube (a "jelly cube"), dropped tilted onto an edge |
| chair | jelly | 1e5 - 1e6 | 0.30 - 0.40 | 600  | a soft foam/rubber-like chair: legs flex visibly when it lands (solid wood, ~1e10 Pa, would not move at all) |
| plant | jelly | 1e6 - 1e7 | 0.30 - 0.40 | 800  | a continuum stand-in for a potted plant with a 20 cm trunk (two grid cells: MPM bends a stem only if the grid resolves its thickness) and leaves, its crown pushed sideways at 0.5 - 1.25 m/s. Chosen by simulation (canonical plant and seeds 1-3, `sway_amplitude`): in the range the crown sways 3 - 22 cm and swings back within the clip, standing still it sags 1 cm; 3x softer it keeps falling over (28 - 45 cm sideways, sinking 10 - 25 cm); 10x stiffer it moves less than 2 cm |
| cable | jelly | 1e5 - 1e6 | 0.30 - 0.40 | 1000 | a rubber-like rope (natural rubber: 1 - 10 MPa; a thick continuum rope sags like a softer one) hung from both ends: it sags and swings visibly |

`scenario(name, seed)` draws one; `scenario(name, seed, E=...)` fixes E (the benchmark and
demo). `scenario(name, seed, implausible=True)` draws E *outside* the range instead (3x to 300x
below or above it, either side equally often) and captions the clip with its class caption plus
NEGATIVE_SUFFIX ("... with unrealistic physics"): the prior learns what wrong physics looks like,
so SDS can use that caption as its negative prompt (classifier-free guidance then contrasts
plausible with implausible motion of the same object instead of with "any video"). Videos are FRAMES = 16 frames at 32 x 32 by default, `frame_dt` 0.03 s apart in the
simulation; the prior sees every second frame (16.7 fps, 8 frames), as `learn-physics` feeds
it with 2 groups of 8 frames (the paper's frame interpolation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from invgfx.mpm.config import CuboidBC, ForcingBC, SceneConfig
from invgfx.scenes import make_scene
from invgfx.splat.cloud import GaussianCloud

FRAMES = 16  # simulated frames per clip; the prior sees groups of FRAMES // GROUPS
GROUPS = 2
FRAME_DT = 0.03  # s between simulated frames
SUBSTEP = 2e-3  # s, the longest substep; stiffer materials get shorter ones (invgfx.mpm.stable_substep)
IMPLAUSIBLE = (3.0, 300.0)  # implausible E lie this many times below / above the plausible range
NEGATIVE_SUFFIX = " with unrealistic physics"
GRID = 20  # cells per side of the 2 m simulation cube (dx = 0.1 m)
GRID_LIM = 2.0
FLOOR = 3 * GRID_LIM / GRID  # the bounding box keeps 3 cells of padding: the floor is at z = 0.3 m


@dataclass(frozen=True)
class ObjectClass:
    """A kind of scenario: the plausible physical ranges it is drawn from and its captions.

    E_range: (lo, hi) Pa, sampled log-uniformly; nu_range: uniform; density: kg/m^3;
    captions: prompts, one drawn per clip; the first is the canonical one; words: the words of a
    prompt that name this class (`invgfx.dreamphysics.learned.class_of_prompt`)."""

    name: str
    E_range: tuple[float, float]
    nu_range: tuple[float, float]
    density: float
    captions: tuple[str, ...]
    words: tuple[str, ...] = ()
    n_gaussians: int = 300

    def inside(self, E: float) -> bool:
        return self.E_range[0] <= E <= self.E_range[1]


CLASSES = {
    c.name: c for c in (
        ObjectClass("ball", (3e4, 3e5), (0.30, 0.45), 1000.0,
                    ("a jelly ball bouncing on the floor", "a jelly ball dropping onto the floor",
                     "a soft ball falling on the ground"), ("ball", "sphere")),
        ObjectClass("box", (3e4, 3e5), (0.30, 0.45), 1000.0,
                    ("a jelly cube dropping onto the floor", "a soft box falling on the ground"),
                    ("box", "cube", "block")),
        ObjectClass("chair", (1e5, 1e6), (0.30, 0.40), 600.0,
                    ("a chair dropping onto the floor", "a soft chair falling on the ground"), ("chair", "stool")),
        ObjectClass("plant", (1e6, 1e7), (0.30, 0.40), 800.0,
                    ("a plant swaying in the wind", "a potted plant swaying", "a plant moving in the wind"),
                    ("plant", "tree", "flower")),
        ObjectClass("cable", (1e5, 1e6), (0.30, 0.40), 1000.0,
                    ("a rope hanging and swinging", "a cable hanging between two posts"), ("cable", "rope", "string")),
    )
}


@dataclass
class Scenario:
    """cloud: the object's Gaussians (world space); config: the simulation (E, nu, density set);
    caption: the text condition; params: what was drawn (E in Pa, camera in degrees, ...)."""

    name: str
    cloud: GaussianCloud
    config: SceneConfig
    caption: str
    params: dict = field(default_factory=dict)

    @property
    def E(self) -> float:
        return self.config.E


def object_class(name: str) -> ObjectClass:
    from invgfx.dreamphysics.errors import DreamPhysicsError

    if name not in CLASSES:
        raise DreamPhysicsError(f"unknown scenario class {name!r}; choose one of {', '.join(CLASSES)}")
    return CLASSES[name]


def _to_sim(cloud: GaussianCloud, rotation_deg: list) -> callable:
    """The world -> simulation map `prepare_particles` will use (no opacity drop: procedural
    objects are opaque), so boxes can be placed on parts of the object."""
    from invgfx.mpm.gaussians import normalisation, scene_rotation

    R = scene_rotation(rotation_deg)
    space = normalisation(cloud.means @ R.T, R, SceneConfig(grid_lim=GRID_LIM))
    return lambda p: space.to_sim(torch.as_tensor(p, dtype=torch.float32))


def _box_around(points_sim: torch.Tensor, margin: float = 0.03) -> tuple[tuple, tuple]:
    """(centre, half extents) of the axis-aligned box around (K, 3) points, plus a margin, m."""
    lo, hi = points_sim.amin(0) - margin, points_sim.amax(0) + margin
    return tuple(((lo + hi) / 2).tolist()), tuple(((hi - lo) / 2).tolist())


def scenario(name: str, seed: int, E: float | None = None, canonical: bool = False,
             implausible: bool = False) -> Scenario:
    """Draw scenario `seed` of class `name`: shape, colours, camera, impulse and (unless given)
    E in the class's plausible range, or outside it if `implausible` (see the module docstring).
    canonical: the class's reference look (seed-0 object, camera from the front-left, 20 degrees
    up, no random push), used by the demo and benchmark."""
    cls = object_class(name)
    rng = np.random.default_rng([seed, list(CLASSES).index(name)])
    if E is None:
        E = float(np.exp(rng.uniform(*np.log(cls.E_range))))
        if implausible:
            lo, hi = cls.E_range
            factor = float(np.exp(rng.uniform(*np.log(IMPLAUSIBLE))))
            E = lo / factor if rng.random() < 0.5 else hi * factor
    E = float(E)
    nu = float(rng.uniform(*cls.nu_range))
    builder = {"ball": _ball, "box": _box, "chair": _chair, "plant": _plant, "cable": _cable}[name]
    obj_seed = 0 if canonical else int(rng.integers(1 << 30))
    cloud, config, extra = builder(obj_seed, rng, cls, canonical)
    if not canonical:  # colour variety: permute the RGB channels (SH is linear in colour)
        perm = torch.as_tensor(rng.permutation(3))
        cloud = replace(cloud, sh=cloud.sh[..., perm])
    azimuth = -60.0 if canonical else float(rng.uniform(-180, 180))
    elevation = 20.0 if canonical else float(rng.uniform(5, 35))
    camera = {"mpm_space_viewpoint_center": list(extra.pop("look_at")), "mpm_space_vertical_upward_axis": [0, 0, 1],
              # PhysGaussian's orbit frame counts azimuth clockwise from (1, 1, 0): 45 - azimuth is
              # `azimuth` counted anticlockwise from +x, the frame these clips were made in
              "init_azimuthm": 45.0 - azimuth, "init_elevation": elevation, "init_radius": extra.pop("radius")}
    config = replace(config, E=E, nu=nu, density=cls.density, grid_lim=GRID_LIM, n_grid=GRID, frame_dt=FRAME_DT,
                     frame_num=FRAMES, camera=camera, opacity_threshold=0.0, source=f"<scenario {name} {seed}>")
    config = _per_particle_forces(cloud, config)
    caption = cls.captions[0] if canonical else cls.captions[int(rng.integers(len(cls.captions)))]
    caption += NEGATIVE_SUFFIX if implausible else ""
    params = {"class": name, "seed": seed, "E": E, "implausible": implausible, "nu": nu, "density": cls.density, "azimuth_deg": azimuth,
              "elevation_deg": elevation, **extra}
    return Scenario(name, cloud, config, caption, params)


def _per_particle_forces(cloud: GaussianCloud, config: SceneConfig) -> SceneConfig:
    """Impulses given per kg (from `_push`) as forces per particle of the mean particle mass
    (density x mean particle volume), which `particle_impulse` applies to every particle."""
    from invgfx.mpm.gaussians import prepare_particles

    volumes = prepare_particles(cloud.means, cloud.covariances(), cloud.opacities, config).volumes
    mass = config.density * float(volumes.mean())
    forcings = [replace(f, vector=tuple(mass * c for c in f.vector)) if f.kind == "impulse" else f for f in config.forcings]
    return replace(config, forcings=forcings)


def _base(**kw) -> SceneConfig:
    # damping: a little per-second grid damping so that clips settle as real objects do
    return SceneConfig(material="jelly", substep_dt=SUBSTEP, grid_v_damping_scale=0.9998, **kw)


def _push(rng, canonical: bool, point, size, strength: tuple[float, float], directions: str) -> tuple[list, dict]:
    """A one-substep particle impulse on the box (point, size) at t = 0 giving a velocity of
    `strength` m/s, horizontal in a random direction (and for 'xyz' also downward); the canonical
    scenario pushes along -x with the middle strength. The vector is a force per kg here;
    `scenario` turns it into the force per particle that `particle_impulse` takes."""
    angle = math.pi if canonical else rng.uniform(0, 2 * math.pi)
    impulse = float(np.mean(strength)) if canonical else rng.uniform(*strength)
    down = 0.0 if directions != "xyz" else -impulse / 2 if canonical else -rng.uniform(0, impulse)
    j = [impulse * math.cos(angle), impulse * math.sin(angle), down]
    # acting for one substep (retimed with the substep, see invgfx.mpm.retime)
    force = ForcingBC("impulse", tuple(point), tuple(size), vector=tuple(c / SUBSTEP for c in j), start_time=0.0,
                      end_time=0.5 * SUBSTEP)
    return [force], {"push_m_per_s": [round(c, 4) for c in j]}


def _drop(cloud: GaussianCloud, rng, canonical: bool, rotations: list) -> tuple[SceneConfig, dict]:
    """A falling object: centred at z = 1 m, 0.5 m across, the floor at FLOOR; a random push."""
    forcings, extra = _push(rng, canonical, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.5, 2.0), "xyz")
    config = _base(gravity=(0.0, 0.0, -9.8), rotations=rotations, forcings=forcings)
    return config, {"look_at": (1.0, 1.0, 0.75), "radius": 1.7, **extra}


def _ball(seed, rng, cls, canonical):
    cloud = make_scene("ball", seed=seed, n_gaussians=cls.n_gaussians, stripes=6 if canonical else int(rng.integers(3, 9))).cloud
    config, extra = _drop(cloud, rng, canonical, [])
    return cloud, config, extra


def _box(seed, rng, cls, canonical):
    size = (0.6, 0.6, 0.6) if canonical else tuple(rng.uniform(0.4, 0.7, 3))
    cloud = make_scene("box", seed=seed, n_gaussians=cls.n_gaussians, size=size).cloud
    tilt = [(0, 25.0), (1, 15.0)] if canonical else [(0, float(rng.uniform(-40, 40))), (1, float(rng.uniform(-40, 40)))]
    config, extra = _drop(cloud, rng, canonical, tilt)
    return cloud, config, {**extra, "size": list(size), "tilt_deg": [t for _, t in tilt]}


def _chair(seed, rng, cls, canonical):
    cloud = make_scene("chair", seed=seed, n_gaussians=cls.n_gaussians).cloud
    config, extra = _drop(cloud, rng, canonical, [])
    return cloud, config, extra


def _plant(seed, rng, cls, canonical):
    # A trunk two grid cells thick: MPM bends a stem only if the grid resolves its thickness; a
    # one-cell stem is a hinge at any E (measured: the old 4 cm stem toppled even at 2e8 Pa).
    obj = make_scene("plant", seed=seed, n_gaussians=cls.n_gaussians,
                     n_leaves=8 if canonical else int(rng.integers(5, 10)), stem_radius=0.1)
    to_sim = _to_sim(obj.cloud, [])
    pot = to_sim(obj.cloud.means[obj.part_mask("pot")])
    point, size = _box_around(pot)
    hold = CuboidBC(point, size)  # the pot stands still
    top = to_sim(obj.cloud.means[obj.part_mask("leaves")])
    z_top = float(top[:, 2].max())
    upper = ((1.0, 1.0, z_top - 0.2), (1.0, 1.0, 0.2))
    forcings, extra = _push(rng, canonical, *upper, (0.5, 1.25), "xy")
    config = _base(gravity=(0.0, 0.0, -9.8), cuboids=[hold], forcings=forcings)
    return obj.cloud, config, {"look_at": (1.0, 1.0, 1.0), "radius": 1.5, **extra}  # fills the frame: sway is visible


def _cable(seed, rng, cls, canonical):
    obj = make_scene("cable", seed=seed, n_gaussians=cls.n_gaussians, length=1.6 if canonical else float(rng.uniform(1.3, 1.8)))
    to_sim = _to_sim(obj.cloud, [])
    holds = [CuboidBC(*_box_around(to_sim(obj.cloud.means[obj.part_mask(part)]))) for part in ("anchor_a", "anchor_b")]
    rope = to_sim(obj.cloud.means[obj.part_mask("rope")])
    forcings, extra = _push(rng, canonical, *_box_around(rope), (0.0, 1.5), "xy")
    config = _base(gravity=(0.0, 0.0, -9.8), cuboids=holds, forcings=forcings)
    return obj.cloud, config, {"look_at": (1.0, 1.0, 0.8), "radius": 2.0, **extra}
