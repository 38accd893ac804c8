"""Scene configs: PhysGaussian / DreamPhysics JSON files as they are, and our native YAML/JSON.

Both load into one `SceneConfig` in SI units. Defaults live in the dataclasses below and nowhere
else. DreamPhysics writes Young's modulus in units of 1e7 Pa (E 0.005 means 5e4 Pa):
pass `e_unit="1e7Pa"` (or put `"E_unit": "1e7Pa"` in the file) and E is converted at load.
"""

from __future__ import annotations

import difflib
import json
import math
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from invgfx.mpm.errors import MPMError
from invgfx.mpm.materials import MATERIALS

E_UNITS = {"Pa": 1.0, "1e7Pa": 1.0e7}

PHYSGAUSSIAN_CAMERA_KEYS = (
    "mpm_space_viewpoint_center", "mpm_space_vertical_upward_axis", "default_camera_index",
    "init_azimuthm", "init_elevation", "init_radius", "move_camera", "delta_a", "delta_e", "delta_r",
    "show_hint",
)


@dataclass
class SurfaceColliderBC:
    point: tuple
    normal: tuple
    surface: str = "sticky"  # sticky | slip | friction
    friction: float = 0.0
    start_time: float = 0.0
    end_time: float = 1.0e3


@dataclass
class CuboidBC:
    point: tuple
    size: tuple  # half extents, m
    velocity: tuple = (0.0, 0.0, 0.0)
    start_time: float = 0.0
    end_time: float = 1.0e3
    reset: bool = False


@dataclass
class ForcingBC:
    """kind: impulse | translation | rotation | sequential_release (see boundary.ParticleForcing).

    Particles are selected by rest position: impulse and translation in the box (centre point,
    half extents size); rotation in the cylinder along `axis` through `point` (half_height,
    radius); sequential_release in the box, released in `layers` layers along `axis`."""

    kind: str
    point: tuple
    size: tuple = (0.0, 0.0, 0.0)
    vector: tuple = (0.0, 0.0, 0.0)
    axis: tuple = (0.0, 0.0, 1.0)
    rate: float = 0.0
    speed: float = 0.0
    start_time: float = 0.0
    end_time: float = 1.0e3
    half_height: float = 0.0
    radius: float = 0.0
    layers: int = 1


@dataclass
class MaterialRegion:
    """Particles whose rest position lies in the box (centre point, half extents size) get these values."""

    point: tuple
    size: tuple
    E: float | None = None
    nu: float | None = None
    density: float | None = None
    material: str | None = None


@dataclass
class FillingConfig:
    """PhysGaussian's interior filling (`particle_filling`, their key names and defaults).

    The grid has n_grid^3 cells over the simulation cube, or over `boundary` (its longest side)
    when given. Directions are numbered 0 +x, 1 -x, 2 +y, 3 -y, 4 +z, 5 -z; a direction outside
    0-5 means none (search_exclude_direction) or every searched cell (ray_cast_direction)."""

    n_grid: int = 200
    density_threshold: float = 5.0  # opacity-weighted density above which a cell is shell
    search_threshold: float = 3.0  # density above which a ray from an empty cell counts as a hit
    search_exclude_direction: int = 5  # the one direction whose ray need not hit the shell
    ray_cast_direction: int = 4  # the ray whose shell crossings must be odd
    max_particles_num: int = 2_000_000
    max_particles_per_cell: int = 1
    boundary: tuple | None = None  # [xmin, xmax, ymin, ymax, zmin, zmax] in simulation space
    smooth: bool = False  # smooth the density (PyMCubes' constrained smoothing) before the rays
    visualize: bool = False  # render filled particles with the look of their nearest Gaussian


@dataclass
class SceneConfig:
    """Everything a simulation needs, SI units (Pa, kg/m^3, s, m) in simulation space."""

    material: str = "jelly"
    E: float = 1.0e5
    nu: float = 0.4
    density: float = 200.0
    grid_lim: float = 2.0
    n_grid: int = 50
    substep_dt: float = 1.0e-4
    frame_dt: float = 1.0e-2
    frame_num: int = 100
    gravity: tuple = (0.0, 0.0, -9.8)
    grid_v_damping_scale: float = 1.0  # grid velocities are multiplied by this every substep if < 1
    rpic_damping: float = 0.0  # 0 APIC, 1 RPIC, < 0 PIC
    yield_stress: float = 1.0e4
    hardening: float = 0.0
    softening: float = 0.1
    xi: float = 10.0
    friction_angle: float = 25.0  # degrees
    plastic_viscosity: float = 0.0
    critical_compression: float = 2.5e-2
    critical_stretch: float = 7.5e-3
    bounding_box_padding: int | None = 3  # None: no bounding box
    surface_colliders: list = field(default_factory=list)
    cuboids: list = field(default_factory=list)
    forcings: list = field(default_factory=list)
    material_regions: list = field(default_factory=list)
    opacity_threshold: float = 0.02
    rotations: list = field(default_factory=list)  # [(axis 0|1|2, degrees), ...] applied in order
    sim_area: tuple | None = None  # world space after the rotations: [xmin, xmax, ymin, ymax, zmin, zmax]
    object_size: float | None = None  # longest side in simulation space (m); None: half of grid_lim
    object_center: tuple | None = None  # bounding-box centre in simulation space (m); None: the cube's
    particle_filling: FillingConfig | None = None
    camera: dict = field(default_factory=dict)  # PhysGaussian camera keys, as in the file
    camera_space: str = "simulation"  # "world": the orbit keys mean PhysGaussian's world-space orbit
    source: str = "<config>"

    @property
    def dx(self) -> float:
        return self.grid_lim / self.n_grid

    @property
    def substeps_per_frame(self) -> int:
        return max(1, int(round(self.frame_dt / self.substep_dt)))

    @property
    def grid_damping(self) -> float:
        """The factor grid velocities are multiplied by per substep: PhysGaussian damps only when
        `grid_v_damping_scale` < 1 (1.1 in their vasedeck config means none)."""
        return min(self.grid_v_damping_scale, 1.0)


# ---- validation ---------------------------------------------------------------------------
def _fail(cfg_source: str, key: str, msg: str) -> MPMError:
    return MPMError(f"{cfg_source}: `{key}` {msg}")


def validate(cfg: SceneConfig) -> SceneConfig:
    src = cfg.source

    def material_ok(name, key):
        if name not in MATERIALS:
            raise _fail(src, key, f"is {name!r}; valid materials: {', '.join(MATERIALS)}")

    def elastic_ok(E, nu, density, prefix):
        if E is not None and not (math.isfinite(E) and E > 0):
            raise _fail(src, f"{prefix}E", f"is {E}; Young's modulus must be a positive number of Pa")
        if nu is not None and not (-1.0 < nu < 0.5):
            raise _fail(src, f"{prefix}nu", f"is {nu}; Poisson's ratio must lie in (-1, 0.5)")
        if density is not None and not (math.isfinite(density) and density > 0):
            raise _fail(src, f"{prefix}density", f"is {density}; density must be a positive number of kg/m^3")

    material_ok(cfg.material, "material")
    elastic_ok(cfg.E, cfg.nu, cfg.density, "")
    for key in ("grid_lim", "substep_dt", "frame_dt"):
        if not getattr(cfg, key) > 0:
            raise _fail(src, key, f"is {getattr(cfg, key)}; it must be positive")
    if cfg.n_grid < 8:
        raise _fail(src, "n_grid", f"is {cfg.n_grid}; use at least 8 grid nodes per axis")
    if cfg.frame_num < 1:
        raise _fail(src, "frame_num", f"is {cfg.frame_num}; it must be at least 1")
    if cfg.substep_dt > cfg.frame_dt:
        raise _fail(src, "substep_dt", f"({cfg.substep_dt}) is longer than frame_dt ({cfg.frame_dt})")
    if len(cfg.gravity) != 3:
        raise _fail(src, "g", f"is {list(cfg.gravity)}; expected three numbers [gx, gy, gz] (m/s^2)")
    if not cfg.grid_v_damping_scale > 0:
        raise _fail(src, "grid_v_damping_scale", f"is {cfg.grid_v_damping_scale}; valid: > 0 (values >= 1 mean no damping)")
    if cfg.object_size is not None and not cfg.object_size > 0:
        raise _fail(src, "scale", f"is {cfg.object_size}; the object's longest side must be positive")
    if cfg.rpic_damping > 1:
        raise _fail(src, "rpic_damping", f"is {cfg.rpic_damping}; valid: <= 1 (0 APIC, 1 RPIC, < 0 PIC)")
    if not 0 <= cfg.friction_angle < 90:
        raise _fail(src, "friction_angle", f"is {cfg.friction_angle}; valid: [0, 90) degrees")
    if cfg.yield_stress <= 0:
        raise _fail(src, "yield_stress", f"is {cfg.yield_stress}; it must be positive (Pa)")
    for i, r in enumerate(cfg.material_regions):
        if r.material is not None:
            material_ok(r.material, f"additional_material_params[{i}].material")
        elastic_ok(r.E, r.nu, r.density, f"additional_material_params[{i}].")
    return cfg


# ---- reading ------------------------------------------------------------------------------
def _read(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as err:
        raise MPMError(f"cannot read scene config {path}: {err.strerror}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as err:  # the parser's message says where
        raise MPMError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {err}") from None
    if not isinstance(data, dict):
        raise MPMError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def load_config(path: str | Path, e_unit: str | None = None) -> SceneConfig:
    """Read a PhysGaussian/DreamPhysics JSON or a native YAML/JSON scene config.

    e_unit: "Pa" or "1e7Pa" (DreamPhysics); default: the file's `E_unit` key, else "Pa".
    A native config is recognised by its `grid` or `time` section.
    """
    path = Path(path)
    data = _read(path)
    if "grid" in data or "time" in data:
        return from_native(data, source=str(path))
    return from_physgaussian(data, source=str(path), e_unit=e_unit)


def _vec(value, key: str, src: str, n: int = 3) -> tuple:
    if not (isinstance(value, (list, tuple)) and len(value) == n and all(_is_number(v) for v in value)):
        raise _fail(src, key, f"is {value!r}; expected a list of {n} numbers")
    return tuple(float(v) for v in value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _num(value, key: str, src: str) -> float:
    if isinstance(value, str):  # YAML 1.1 reads 5.0e4 (no sign in the exponent) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if not _is_number(value):
        raise _fail(src, key, f"is {value!r}; expected a number")
    return float(value)


def _int(value, key: str, src: str) -> int:
    """A whole number: 32.0 is 32, 32.7 is an error (PhysGaussian would crash on it in Warp)."""
    x = _num(value, key, src)
    if not x.is_integer():
        raise _fail(src, key, f"is {value!r}; expected a whole number")
    return int(x)


def _list(value, key: str, src: str, of: type = object) -> list:
    if not isinstance(value, list) or not all(isinstance(v, of) for v in value):
        what = "objects ({...})" if of is dict else "values"
        raise _fail(src, key, f"is {value!r}; expected a list of {what}, e.g. [] for none")
    return value


def _require(d: dict, key: str, where: str, src: str):
    if key not in d:
        raise _fail(src, f"{where}.{key}", "is missing")
    return d[key]


def _unknown(keys, known, where: str, src: str, strict: bool) -> None:
    for k in keys:
        if k in known:
            continue
        hint = difflib.get_close_matches(k, known, n=1)
        msg = f"is not a known key{f' (did you mean `{hint[0]}`?)' if hint else ''}; known: {', '.join(sorted(known))}"
        if strict:
            raise _fail(src, f"{where}{k}", msg)
        warnings.warn(f"{src}: `{where}{k}` is ignored: {msg}", stacklevel=3)


PG_SCALARS = {  # PhysGaussian key -> SceneConfig field
    "E": "E", "nu": "nu", "density": "density", "grid_lim": "grid_lim", "substep_dt": "substep_dt",
    "frame_dt": "frame_dt", "grid_v_damping_scale": "grid_v_damping_scale", "rpic_damping": "rpic_damping",
    "yield_stress": "yield_stress", "hardening": "hardening", "softening": "softening", "xi": "xi",
    "friction_angle": "friction_angle", "plastic_viscosity": "plastic_viscosity",
    "critical_compression": "critical_compression", "critical_stretch": "critical_stretch",
    "opacity_threshold": "opacity_threshold", "scale": "object_size",
}
PG_OTHER = {"material", "n_grid", "frame_num", "g", "rotation_degree", "rotation_axis", "sim_area",
            "particle_filling", "boundary_conditions", "additional_material_params", "E_unit"}
# Read by PhysGaussian's loader and used by none of its code: accepted, with no effect there or here.
PG_UNUSED = {"pic_damping"}
# Defaults PhysGaussian applies without a word; we say them (PhysGaussian's `g` default, the
# scalar 9.8, crashes its solver: ours is the vector).
PG_DEFAULTS = {"material": "jelly", "E": "1e5 Pa", "nu": "0.4", "density": "200 kg/m^3", "n_grid": "50",
               "g": "[0, 0, -9.8] m/s^2"}


def from_physgaussian(data: dict, source: str = "<config>", e_unit: str | None = None,
                      physgaussian_layout: bool = True) -> SceneConfig:
    """PhysGaussian/DreamPhysics scene dict -> SceneConfig, read as their `decode_param_json` and
    `set_boundary_conditions` read it (their defaults, their units, their order of operations).

    Unknown keys are warned about, once each, not fatal: their configs carry keys for their own
    scripts. physgaussian_layout: normalise the object as PhysGaussian does (longest side `scale`,
    default 1 m, centred at (1, 1, 1)); False keeps the native schema's half cube in its centre."""
    src = source
    e_unit = e_unit or data.get("E_unit", "Pa")
    if e_unit not in E_UNITS:
        raise _fail(src, "E_unit", f"is {e_unit!r}; valid: {', '.join(E_UNITS)}")
    unit = E_UNITS[e_unit]
    _unknown(data, set(PG_SCALARS) | PG_OTHER | PG_UNUSED | set(PHYSGAUSSIAN_CAMERA_KEYS), "", src, strict=False)
    missing = [k for k in PG_DEFAULTS if k not in data]
    if missing and physgaussian_layout:
        warnings.warn(f"{src}: not set, so PhysGaussian's defaults are used: "
                      + ", ".join(f"{k} = {PG_DEFAULTS[k]}" for k in missing), stacklevel=2)
    cfg = SceneConfig(source=src, camera={k: data[k] for k in PHYSGAUSSIAN_CAMERA_KEYS if k in data})
    if physgaussian_layout:
        cfg.object_size, cfg.object_center, cfg.camera_space = 1.0, (1.0, 1.0, 1.0), "world"
    for key, name in PG_SCALARS.items():
        if key in data:
            setattr(cfg, name, _num(data[key], key, src))
    cfg.E *= unit
    if e_unit == "Pa" and 0 < cfg.E < 10:
        warnings.warn(f"{src}: E = {cfg.E} Pa is tiny; DreamPhysics configs store E in 1e7 Pa, "
                      "load them with e_unit='1e7Pa'", stacklevel=2)
    if "material" in data:
        cfg.material = str(data["material"])
    if cfg.hardening == 1 and "xi" not in data and physgaussian_layout:
        warnings.warn(f"{src}: `hardening` 1 without `xi`: PhysGaussian's hardening coefficient xi is then 0, "
                      "so the yield stress does not grow; set `xi`", stacklevel=2)
        cfg.xi = 0.0
    for key in ("n_grid", "frame_num"):
        if key in data:
            setattr(cfg, key, _int(data[key], key, src))
    if "g" in data:
        g = data["g"]
        cfg.gravity = (0.0, 0.0, -abs(_num(g, "g", src))) if _is_number(g) else _vec(g, "g", src)
    degrees = _list(data.get("rotation_degree", []), "rotation_degree", src)
    axes = _list(data.get("rotation_axis", []), "rotation_axis", src)
    if len(degrees) != len(axes):
        raise _fail(src, "rotation_degree", f"has {len(degrees)} entries but rotation_axis has {len(axes)}")
    for d, a in zip(degrees, axes):
        if a not in (0, 1, 2):
            raise _fail(src, "rotation_axis", f"contains {a!r}; valid axes: 0 (x), 1 (y), 2 (z)")
        cfg.rotations.append((int(a), _num(d, "rotation_degree", src)))
    if data.get("sim_area") is not None:
        cfg.sim_area = _vec(data["sim_area"], "sim_area", src, 6)
    if data.get("particle_filling") is not None:
        cfg.particle_filling = _filling(data["particle_filling"], cfg, "particle_filling", src)
    cfg.bounding_box_padding = None  # only where the file asks for one, as in PhysGaussian
    for i, bc in enumerate(_list(data.get("boundary_conditions", []), "boundary_conditions", src, dict)):
        _physgaussian_bc(bc, i, cfg, src)
    if cfg.bounding_box_padding is None:
        warnings.warn(f"{src}: `boundary_conditions` has no bounding_box, so nothing keeps the particles in the "
                      "grid (as in PhysGaussian, where leaving it crashes the run); here a particle that reaches "
                      "the edge is held there and counted. Add {\"type\": \"bounding_box\"} for walls.", stacklevel=2)
    regions = _list(data.get("additional_material_params", []), "additional_material_params", src, dict)
    for i, r in enumerate(regions):
        where = f"additional_material_params[{i}]"
        _unknown(r, {"point", "size", "E", "nu", "density", "material"}, where + ".", src, strict=True)
        cfg.material_regions.append(MaterialRegion(
            point=_vec(_require(r, "point", where, src), where + ".point", src),
            size=_vec(_require(r, "size", where, src), where + ".size", src),
            E=_num(r["E"], where + ".E", src) * unit if "E" in r else None,
            nu=_num(r["nu"], where + ".nu", src) if "nu" in r else None,
            # PhysGaussian gives a region without density the scene's density
            density=_num(r["density"], where + ".density", src) if "density" in r else cfg.density,
            material=r.get("material"),
        ))
    return validate(cfg)


FILLING_KEYS = {  # PhysGaussian key -> FillingConfig field
    "n_grid": "n_grid", "density_threshold": "density_threshold", "search_threshold": "search_threshold",
    "search_exclude_direction": "search_exclude_direction", "ray_cast_direction": "ray_cast_direction",
    "max_particles_num": "max_particles_num", "max_partciels_per_cell": "max_particles_per_cell",  # sic
    "max_particles_per_cell": "max_particles_per_cell", "boundary": "boundary", "smooth": "smooth",
    "visualize": "visualize",
}


def _filling(d, cfg: SceneConfig, where: str, src: str) -> FillingConfig:
    if not isinstance(d, dict):
        raise _fail(src, where, f"is {d!r}; expected an object of filling keys ({', '.join(FILLING_KEYS)}) or null")
    _unknown(d, set(FILLING_KEYS), where + ".", src, strict=False)
    fc = FillingConfig(n_grid=4 * cfg.n_grid)  # PhysGaussian's default: 4 x the simulation grid
    for key, name in FILLING_KEYS.items():
        if d.get(key) is None:
            continue
        k = f"{where}.{key}"
        if name == "boundary":
            value = _vec(d[key], k, src, 6)
        elif name in ("smooth", "visualize"):
            value = bool(d[key])
        elif isinstance(getattr(fc, name), int):
            value = _int(d[key], k, src)
        else:
            value = _num(d[key], k, src)
        setattr(fc, name, value)
    for name in ("n_grid", "max_particles_per_cell"):
        if getattr(fc, name) < 1:
            raise _fail(src, f"{where}.{name}", f"is {getattr(fc, name)}; it must be at least 1")
    if fc.boundary is not None and any(lo >= hi for lo, hi in zip(fc.boundary[::2], fc.boundary[1::2])):
        raise _fail(src, f"{where}.boundary", f"is {list(fc.boundary)}; expected [xmin, xmax, ymin, ymax, zmin, zmax] "
                    "with each min below its max")
    return fc


# Every boundary condition PhysGaussian's `set_boundary_conditions` knows, with its keys and the
# defaults its code applies (a key without a default is required, as there).
BC_KEYS = {
    "bounding_box": {"padding": 3},  # padding: ours; PhysGaussian's is fixed at 3 nodes
    "cuboid": {"point": None, "size": None, "velocity": None, "start_time": 0.0, "end_time": 1e3, "reset": 0},
    "surface_collider": {"point": None, "normal": None, "surface": "sticky", "friction": 0.0, "start_time": 0.0,
                         "end_time": 1e3},
    "particle_impulse": {"force": None, "num_dt": 1, "start_time": 0.0, "point": (1.0, 1.0, 1.0),
                         "size": (1.0, 1.0, 1.0)},
    "enforce_particle_translation": {"point": None, "size": None, "velocity": None, "start_time": 0.0, "end_time": 1e3},
    "enforce_particle_velocity_rotation": {"point": None, "normal": None, "half_height_and_radius": None,
                                           "rotation_scale": 0.0, "translation_scale": 0.0, "start_time": 0.0,
                                           "end_time": 1e3},
    "release_particles_sequentially": {"normal": None, "start_position": None, "end_position": None,
                                       "num_layers": 50, "start_time": 0.0, "end_time": None},
}


def _physgaussian_bc(bc: dict, i: int, cfg: SceneConfig, src: str) -> None:
    where = f"boundary_conditions[{i}]"
    kind = bc.get("type")
    if kind not in BC_KEYS:
        raise _fail(src, f"{where}.type", f"is {kind!r}; valid: {', '.join(BC_KEYS)}")
    spec = BC_KEYS[kind]
    _unknown([k for k in bc if k != "type"], set(spec), where + ".", src, strict=True)

    def get(key, n=None):
        value = bc[key] if key in bc else spec[key]
        if value is None:
            raise _fail(src, f"{where}.{key}", f"is missing (a {kind} needs {', '.join(k for k in spec if spec[k] is None)})")
        return _vec(value, f"{where}.{key}", src, n) if n else _num(value, f"{where}.{key}", src)

    times = {key: get(key) for key in ("start_time", "end_time") if key in spec}
    if kind == "bounding_box":
        cfg.bounding_box_padding = _int(bc.get("padding", 3), f"{where}.padding", src)
    elif kind == "cuboid":
        cfg.cuboids.append(CuboidBC(get("point", 3), get("size", 3), get("velocity", 3), reset=bool(get("reset")),
                                    **times))
    elif kind == "surface_collider":
        surface, friction = str(bc.get("surface", "sticky")), get("friction")
        if surface not in ("sticky", "slip", "friction"):
            hint = " (`cut` is a cutting plane hard-coded for one PhysGaussian scene)" if surface == "cut" else ""
            raise _fail(src, f"{where}.surface", f"is {surface!r}{hint}; valid: sticky, slip, friction")
        if friction < 0 or (surface == "sticky" and friction != 0):
            raise _fail(src, f"{where}.friction", f"is {friction}; it must be >= 0, and 0 on a sticky surface "
                        "(PhysGaussian refuses that too: use surface `friction`)")
        cfg.surface_colliders.append(SurfaceColliderBC(get("point", 3), _unit(get("normal", 3), f"{where}.normal", src),
                                                       surface, friction, **times))
    elif kind == "particle_impulse":
        start, num_dt = times["start_time"], _int(bc.get("num_dt", 1), f"{where}.num_dt", src)
        # num_dt substeps from start_time: end half a substep early, so rounding of t cannot add one
        impulse = ForcingBC("impulse", get("point", 3), get("size", 3), get("force", 3), start_time=start,
                            end_time=start + (num_dt - 0.5) * cfg.substep_dt)
        # PhysGaussian applies every impulse before the velocity conditions, whatever the file's order
        cfg.forcings.insert(sum(f.kind == "impulse" for f in cfg.forcings), impulse)
    elif kind == "enforce_particle_translation":
        cfg.forcings.append(ForcingBC("translation", get("point", 3), get("size", 3), get("velocity", 3), **times))
    elif kind == "enforce_particle_velocity_rotation":
        half_height, radius = get("half_height_and_radius", 2)
        cfg.forcings.append(ForcingBC("rotation", get("point", 3), axis=_unit(get("normal", 3), f"{where}.normal", src),
                                      rate=get("rotation_scale"), speed=get("translation_scale"),
                                      half_height=half_height, radius=radius, **times))
    else:
        cfg.forcings.append(_sequential_release(get, where, src, times))


def _sequential_release(get, where: str, src: str, times: dict) -> ForcingBC:
    """PhysGaussian's `release_particles_sequentially`: along the axis of `normal`, the slab within
    |start_position - end_position| of end_position (the other two axes: the box centred at 1 m
    with half size 1 m, the whole cube of a 2 m grid) is held still from start_time and released
    in num_layers layers, the layer farthest from end_position at end_time / num_layers, the one
    at end_position at end_time. (PhysGaussian's code uses 50 layers whatever num_layers says.)"""
    normal = get("normal", 3)
    nonzero = [a for a in range(3) if normal[a] != 0]
    if len(nonzero) != 1:
        raise _fail(src, f"{where}.normal", f"is {list(normal)}; it must point along one axis, e.g. [1, 0, 0]")
    axis = nonzero[0]
    start, end = get("start_position"), get("end_position")
    layers = _int(get("num_layers"), f"{where}.num_layers", src)
    if layers < 1 or start == end:
        raise _fail(src, where, f"has num_layers {layers}, start_position {start}, end_position {end}; "
                    "it needs num_layers >= 1 and start_position != end_position")
    point, size, unit = [1.0] * 3, [1.0] * 3, [0.0] * 3
    point[axis], size[axis], unit[axis] = end, abs(start - end), 1.0
    return ForcingBC("sequential_release", tuple(point), tuple(size), axis=tuple(unit), layers=layers, **times)


def _unit(v: tuple, key: str, src: str) -> tuple:
    n = math.sqrt(sum(c * c for c in v))
    if n == 0:
        raise _fail(src, key, "is the zero vector")
    return tuple(c / n for c in v)


# ---- native schema ----------------------------------------------------------------------
NATIVE_SECTIONS = {
    "material": {"name", "youngs_modulus", "poisson_ratio", "density", "yield_stress", "hardening", "softening",
                 "xi", "friction_angle", "plastic_viscosity", "critical_compression", "critical_stretch"},
    "grid": {"size", "resolution"},
    "time": {"substep", "frame", "frames"},
    "damping": {"grid_velocity_scale", "rpic"},
    "preprocess": {"opacity_threshold", "rotations", "sim_area", "filling"},
}
NATIVE_TOP = set(NATIVE_SECTIONS) | {"gravity", "boundaries", "material_regions", "camera"}


def from_native(data: dict, source: str = "<config>") -> SceneConfig:
    """Our schema: readable names, SI units, one section per concern (see configs/mpm/*.yaml):

    material: {name, youngs_modulus (Pa), poisson_ratio, density (kg/m^3), yield_stress, ...}
    grid: {size (m), resolution (nodes per axis)};  time: {substep, frame (s), frames}
    gravity: [gx, gy, gz];  damping: {grid_velocity_scale, rpic}
    boundaries: [{type: <PhysGaussian boundary type>, ...PhysGaussian keys}]
    material_regions: [{point, size, youngs_modulus, poisson_ratio, density, name}]
    preprocess: {opacity_threshold, rotations: [{axis: x|y|z, degrees}], sim_area, filling: {...}}
    camera: {PhysGaussian camera keys}
    """
    src = source
    _unknown(data, NATIVE_TOP, "", src, strict=True)
    sections = {}
    for name, known in NATIVE_SECTIONS.items():
        sec = data.get(name, {})
        if not isinstance(sec, dict):
            raise _fail(src, name, f"must be a mapping with keys {', '.join(sorted(known))}")
        _unknown(sec, known, name + ".", src, strict=True)
        sections[name] = sec
    mat, grid, time, damp, pre = (sections[n] for n in NATIVE_SECTIONS)
    pg: dict[str, Any] = {}
    renames = [(mat, "name", "material"), (mat, "youngs_modulus", "E"), (mat, "poisson_ratio", "nu"),
               (grid, "size", "grid_lim"), (grid, "resolution", "n_grid"), (time, "substep", "substep_dt"),
               (time, "frame", "frame_dt"), (time, "frames", "frame_num"), (damp, "grid_velocity_scale",
               "grid_v_damping_scale"), (damp, "rpic", "rpic_damping"), (pre, "sim_area", "sim_area"),
               (pre, "opacity_threshold", "opacity_threshold"), (pre, "filling", "particle_filling")]
    for sec, key, pg_key in renames:
        if key in sec:
            pg[pg_key] = sec[key]
    for key in NATIVE_SECTIONS["material"] - {"name", "youngs_modulus", "poisson_ratio"}:
        if key in mat:
            pg[key] = mat[key]
    if "gravity" in data:
        pg["g"] = data["gravity"]
    axes = {"x": 0, "y": 1, "z": 2}
    for i, rot in enumerate(pre.get("rotations", [])):
        if rot.get("axis") not in axes:
            raise _fail(src, f"preprocess.rotations[{i}].axis", f"is {rot.get('axis')!r}; valid: x, y, z")
        pg.setdefault("rotation_axis", []).append(axes[rot["axis"]])
        pg.setdefault("rotation_degree", []).append(_require(rot, "degrees", f"preprocess.rotations[{i}]", src))
    pg["boundary_conditions"] = data.get("boundaries", [])
    region_names = {"youngs_modulus": "E", "poisson_ratio": "nu", "name": "material", "point": "point",
                    "size": "size", "density": "density"}
    pg["additional_material_params"] = []
    for i, r in enumerate(data.get("material_regions", [])):
        _unknown(r, set(region_names), f"material_regions[{i}].", src, strict=True)
        pg["additional_material_params"].append({region_names[k]: v for k, v in r.items()})
    pg.update(data.get("camera", {}))
    return from_physgaussian(pg, source=src, e_unit="Pa", physgaussian_layout=False)


# ---- memory -------------------------------------------------------------------------------
def estimate_memory(n_particles: int, n_grid: int, requires_grad: bool = False) -> int:
    """Bytes a Simulator allocates: two particle states (x, v, F, C, plastic: 25 floats), rest
    position, volume, E, nu, density, material, escape flag, forcing, trial-F and affine scratch
    (45 values), and a grid of (m v, m, v) = 7 floats per node; gradients double the float arrays."""
    per_particle = 4 * (2 * 25 + 45)
    per_node = 4 * 7
    total = n_particles * per_particle + n_grid**3 * per_node
    return total * (2 if requires_grad else 1)


def available_memory(device: str = "cpu") -> int:
    """Free bytes on `device` (MemAvailable on the host, free memory on a CUDA device)."""
    if device.startswith("cuda"):
        import warp as wp

        return int(wp.get_device(device).free_memory)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(n_particles: int, n_grid: int, device: str = "cpu", requires_grad: bool = False,
                 source: str = "scene") -> int:
    """Raise MPMError before allocating when the simulation would not fit; returns the estimate."""
    need = estimate_memory(n_particles, n_grid, requires_grad)
    free = available_memory(device)
    if need > 0.9 * free:
        raise MPMError(f"{source}: {n_particles} particles on a {n_grid}^3 grid need about {need / 2**30:.1f} GiB "
                       f"but {device} has {free / 2**30:.1f} GiB free; lower `n_grid` or the particle count "
                       "(opacity_threshold, particle_filling.max_particles)")
    return need
