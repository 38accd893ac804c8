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
    """kind: impulse | translation | rotation | sequential_release (see boundary.ParticleForcing)."""

    kind: str
    point: tuple
    size: tuple
    vector: tuple = (0.0, 0.0, 0.0)
    axis: tuple = (0.0, 0.0, 1.0)
    rate: float = 0.0
    speed: float = 0.0
    start_time: float = 0.0
    end_time: float = 1.0e3


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
    """Interior filling on a grid of n_grid cells over the simulation cube (PhysGaussian keys)."""

    n_grid: int = 200
    density_threshold: float = 5.0
    search_threshold: int = 3  # cells searched around a Gaussian centre
    max_particles: int = 2_000_000
    max_particles_per_cell: int = 1
    ray_cast_dir: int = 4  # how many of the 6 axis directions must see an odd crossing count
    boundary: tuple | None = None  # [xmin, xmax, ymin, ymax, zmin, zmax] to restrict filling


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
    grid_v_damping_scale: float = 1.0  # grid velocities are multiplied by this every substep
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
    sim_area: tuple | None = None
    particle_filling: FillingConfig | None = None
    camera: dict = field(default_factory=dict)  # PhysGaussian camera keys, as in the file
    source: str = "<config>"

    @property
    def dx(self) -> float:
        return self.grid_lim / self.n_grid

    @property
    def substeps_per_frame(self) -> int:
        return max(1, int(round(self.frame_dt / self.substep_dt)))


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
    if not 0 < cfg.grid_v_damping_scale <= 1:
        raise _fail(src, "grid_v_damping_scale", f"is {cfg.grid_v_damping_scale}; valid: (0, 1]")
    if cfg.rpic_damping > 1:
        raise _fail(src, "rpic_damping", f"is {cfg.rpic_damping}; valid: <= 1 (0 APIC, 1 RPIC, < 0 PIC)")
    if not 0 <= cfg.friction_angle < 90:
        raise _fail(src, "friction_angle", f"is {cfg.friction_angle}; valid: [0, 90) degrees")
    if cfg.yield_stress <= 0:
        raise _fail(src, "yield_stress", f"is {cfg.yield_stress}; it must be positive (Pa)")
    for i, c in enumerate(cfg.surface_colliders):
        if c.surface not in ("sticky", "slip", "friction"):
            raise _fail(src, f"boundary_conditions[{i}].surface", f"is {c.surface!r}; valid: sticky, slip, friction")
        if c.friction < 0:
            raise _fail(src, f"boundary_conditions[{i}].friction", f"is {c.friction}; it must be >= 0")
        if math.hypot(*c.normal) == 0:
            raise _fail(src, f"boundary_conditions[{i}].normal", "is the zero vector")
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
    if not (isinstance(value, (list, tuple)) and len(value) == n and all(isinstance(v, (int, float)) for v in value)):
        raise _fail(src, key, f"is {value!r}; expected a list of {n} numbers")
    return tuple(float(v) for v in value)


def _num(value, key: str, src: str) -> float:
    if isinstance(value, str):  # YAML 1.1 reads 5.0e4 (no sign in the exponent) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(src, key, f"is {value!r}; expected a number")
    return float(value)


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
    "opacity_threshold": "opacity_threshold",
}
PG_OTHER = {"material", "n_grid", "frame_num", "g", "rotation_degree", "rotation_axis", "sim_area",
            "particle_filling", "boundary_conditions", "additional_material_params", "E_unit"}


def from_physgaussian(data: dict, source: str = "<config>", e_unit: str | None = None) -> SceneConfig:
    """PhysGaussian/DreamPhysics scene dict -> SceneConfig. Unknown keys are warned about, not fatal,
    because their configs carry keys for their own scripts."""
    src = source
    e_unit = e_unit or data.get("E_unit", "Pa")
    if e_unit not in E_UNITS:
        raise _fail(src, "E_unit", f"is {e_unit!r}; valid: {', '.join(E_UNITS)}")
    scale = E_UNITS[e_unit]
    _unknown(data, set(PG_SCALARS) | PG_OTHER | set(PHYSGAUSSIAN_CAMERA_KEYS), "", src, strict=False)
    cfg = SceneConfig(source=src, camera={k: data[k] for k in PHYSGAUSSIAN_CAMERA_KEYS if k in data})
    for key, name in PG_SCALARS.items():
        if key in data:
            setattr(cfg, name, _num(data[key], key, src))
    cfg.E *= scale
    if e_unit == "Pa" and 0 < cfg.E < 10:
        warnings.warn(f"{src}: E = {cfg.E} Pa is tiny; DreamPhysics configs store E in 1e7 Pa, "
                      "load them with e_unit='1e7Pa'", stacklevel=2)
    if "material" in data:
        cfg.material = str(data["material"])
    for key in ("n_grid", "frame_num"):
        if key in data:
            setattr(cfg, key, int(_num(data[key], key, src)))
    if "g" in data:
        g = data["g"]
        cfg.gravity = (0.0, 0.0, -abs(_num(g, "g", src))) if isinstance(g, (int, float)) else _vec(g, "g", src)
    degrees, axes = data.get("rotation_degree", []), data.get("rotation_axis", [])
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
    for i, bc in enumerate(data.get("boundary_conditions", [])):
        _physgaussian_bc(bc, i, cfg, src)
    for i, r in enumerate(data.get("additional_material_params", [])):
        where = f"additional_material_params[{i}]"
        _unknown(r, {"point", "size", "E", "nu", "density", "material"}, where + ".", src, strict=True)
        cfg.material_regions.append(MaterialRegion(
            point=_vec(_require(r, "point", where, src), where + ".point", src),
            size=_vec(_require(r, "size", where, src), where + ".size", src),
            E=_num(r["E"], where + ".E", src) * scale if "E" in r else None,
            nu=_num(r["nu"], where + ".nu", src) if "nu" in r else None,
            density=_num(r["density"], where + ".density", src) if "density" in r else None,
            material=r.get("material"),
        ))
    return validate(cfg)


def _filling(d: dict, cfg: SceneConfig, where: str, src: str) -> FillingConfig:
    known = {f.name for f in fields(FillingConfig)} | {"max_partciels_per_cell", "exclude_dir", "smooth", "visualize"}
    _unknown(d, known, where + ".", src, strict=False)
    fc = FillingConfig(n_grid=int(d.get("n_grid", 4 * cfg.n_grid)))
    for key in ("density_threshold", "search_threshold", "max_particles", "max_particles_per_cell", "ray_cast_dir"):
        if key in d:
            setattr(fc, key, type(getattr(fc, key))(_num(d[key], f"{where}.{key}", src)))
    if "max_partciels_per_cell" in d:  # PhysGaussian's spelling
        fc.max_particles_per_cell = int(_num(d["max_partciels_per_cell"], f"{where}.max_partciels_per_cell", src))
    if d.get("boundary") is not None:
        fc.boundary = _vec(d["boundary"], f"{where}.boundary", src, 6)
    if not 1 <= fc.ray_cast_dir <= 6:
        raise _fail(src, f"{where}.ray_cast_dir", f"is {fc.ray_cast_dir}; valid: 1 to 6")
    return fc


BC_KEYS = {
    "bounding_box": {"padding"},
    "cuboid": {"point", "size", "velocity", "start_time", "end_time", "reset"},
    "surface_collider": {"point", "normal", "surface", "friction", "start_time", "end_time"},
    "particle_impulse": {"force", "num_dt", "start_time", "point", "size"},
    "enforce_particle_translation": {"point", "size", "velocity", "start_time", "end_time"},
    "enforce_particle_velocity_rotation": {"point", "normal", "size", "half_height_and_radius",
                                           "rotation_scale", "translation_scale", "start_time", "end_time"},
    "release_particles_sequentially": {"point", "size", "axis", "start_time", "end_time"},
}


def _physgaussian_bc(bc: dict, i: int, cfg: SceneConfig, src: str) -> None:
    where = f"boundary_conditions[{i}]"
    kind = bc.get("type")
    if kind not in BC_KEYS:
        raise _fail(src, f"{where}.type", f"is {kind!r}; valid: {', '.join(BC_KEYS)}")
    _unknown([k for k in bc if k != "type"], BC_KEYS[kind], where + ".", src, strict=True)

    def vec(key, default=None):
        if key not in bc and default is not None:
            return default
        return _vec(_require(bc, key, where, src), f"{where}.{key}", src)

    def num(key, default):
        return _num(bc[key], f"{where}.{key}", src) if key in bc else default

    times = dict(start_time=num("start_time", 0.0), end_time=num("end_time", 1.0e3))
    if kind == "bounding_box":
        cfg.bounding_box_padding = int(num("padding", 3))
    elif kind == "cuboid":
        cfg.cuboids.append(CuboidBC(vec("point"), vec("size"), vec("velocity", (0.0, 0.0, 0.0)),
                                    reset=bool(num("reset", 0)), **times))
    elif kind == "surface_collider":
        cfg.surface_colliders.append(SurfaceColliderBC(vec("point"), vec("normal"), str(bc.get("surface", "sticky")),
                                                       num("friction", 0.0), **times))
    elif kind == "particle_impulse":
        start = times["start_time"]
        cfg.forcings.append(ForcingBC("impulse", vec("point"), vec("size"), vec("force"), start_time=start,
                                      end_time=start + (num("num_dt", 1) - 0.5) * cfg.substep_dt))
    elif kind == "enforce_particle_translation":
        cfg.forcings.append(ForcingBC("translation", vec("point"), vec("size"), vec("velocity"), **times))
    elif kind == "enforce_particle_velocity_rotation":
        if "size" in bc:
            size = vec("size")
        else:
            h, r = _vec(_require(bc, "half_height_and_radius", where, src), f"{where}.half_height_and_radius", src, 2)
            size = (max(h, r),) * 3
        cfg.forcings.append(ForcingBC("rotation", vec("point"), size, axis=_unit(vec("normal"), f"{where}.normal", src),
                                      rate=num("rotation_scale", 0.0), speed=num("translation_scale", 0.0), **times))
    else:
        cfg.forcings.append(ForcingBC("sequential_release", vec("point"), vec("size"),
                                      axis=_unit(vec("axis", (0.0, 0.0, -1.0)), f"{where}.axis", src), **times))


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
    return from_physgaussian(pg, source=src, e_unit="Pa")


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
