"""Datasets with known factors: single-factor training batches, a factor grid of unseen identities,
the on-disk cache, the 1:1:1:10 batch sampler, and the original code's folder layout.

Factors (radians; identity is an integer id): azimuth, elevation, light azimuth, identity.
A training batch varies exactly one factor and holds the other three fixed (paper section 3.1).
The test grid renders every (azimuth, elevation, light) cell of a small factorial grid for
identities that no training batch contains, so metrics and novel-view errors are computed on
objects the network has never seen.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from invgfx.atomic import atomic_output
from invgfx.ign import FACTORS, IGNError

FOLDERS = {"azimuth": "AZ_VARIED", "elevation": "EL_VARIED", "light": "LIGHT_AZ_VARIED", "identity": "SHAPE_VARIED"}
"""Batch kind -> folder name in the original DC-IGN code's data layout."""

PAPER_RATIO = (1, 1, 1, 10)
DEFAULT_CACHE = Path(".invgfx_cache") / "ign"


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that determines a procedural dataset; the same spec gives the same images.

    batches:       number of stored training batches per kind (azimuth, elevation, light, identity).
    grid:          number of azimuth, elevation and light values of the test grid (evenly spaced).
    *_range:       factors are drawn from [-range, range] (radians).
    """

    family: str = "faces"
    image_size: int = 64
    n_identities: int = 100
    n_test_identities: int = 20
    batches: tuple[int, int, int, int] = (40, 40, 40, 160)
    batch_size: int = 20
    grid: tuple[int, int, int] = (9, 3, 5)
    azimuth_range: float = 1.5
    elevation_range: float = 0.4
    light_range: float = math.radians(80)
    seed: int = 0

    def __post_init__(self) -> None:
        from invgfx.ign.shapes import FAMILIES

        if self.family not in FAMILIES:
            raise IGNError(f"--family {self.family!r} is not one of {sorted(FAMILIES)}")
        if not 0 < self.n_test_identities < self.n_identities:
            raise IGNError(f"need 0 < test identities ({self.n_test_identities}) < identities ({self.n_identities})")
        if self.batch_size > self.n_identities - self.n_test_identities:
            raise IGNError(f"batch size {self.batch_size} exceeds the {self.n_identities - self.n_test_identities} "
                           "training identities an identity batch draws from")
        if len(self.batches) != 4 or len(self.grid) != 3 or min(self.grid) < 1:
            raise IGNError("DatasetSpec: batches needs 4 counts and grid 3 positive sizes")

    def key(self) -> str:
        # rounded, so that ranges given in degrees at the CLI name the same cache as radians in code
        fields = {k: round(v, 9) if isinstance(v, float) else v for k, v in asdict(self).items()}
        return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]

    def ranges(self) -> np.ndarray:
        return np.array([self.azimuth_range, self.elevation_range, self.light_range])


@dataclass
class BatchSet:
    """Single-factor batches. images (M, B, S, S) uint8; factors (M, B, 4) float32 = azimuth,
    elevation, light (rad), identity id (NaN where unknown); kinds (M,) index into FACTORS."""

    images: np.ndarray
    factors: np.ndarray
    kinds: np.ndarray


@dataclass
class TestGrid:
    """Unseen identities on a factorial grid. images (I, A, E, L, S, S) uint8; identities (I,);
    azimuths (A,), elevations (E,), lights (L,) in radians."""

    images: np.ndarray
    identities: np.ndarray
    azimuths: np.ndarray
    elevations: np.ndarray
    lights: np.ndarray

    def factor_values(self) -> np.ndarray:
        """(I, A, E, L, 4) float: azimuth, elevation, light, identity of every cell."""
        I, A, E, L = self.images.shape[:4]
        idx = np.indices((I, A, E, L))
        return np.stack([self.azimuths[idx[1]], self.elevations[idx[2]], self.lights[idx[3]],
                         self.identities[idx[0]].astype(float)], -1)


@dataclass
class IGNDataset:
    """Training batches of the training identities and the test grid of the others."""

    train: BatchSet
    test: TestGrid
    spec: DatasetSpec


def split_identities(n_identities: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint sorted (train ids, test ids), a seeded random partition of range(n_identities)."""
    perm = np.random.default_rng([seed, 7]).permutation(n_identities)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def sample_batch_index(kinds: np.ndarray, rng: np.random.Generator, ratio=PAPER_RATIO) -> int:
    """One stored batch: its kind drawn with probability proportional to `ratio` (azimuth :
    elevation : light : identity, paper 1:1:1:10) among the kinds present, then uniformly."""
    weights = np.array([ratio[k] if (kinds == k).any() else 0.0 for k in range(4)], dtype=float)
    if weights.sum() <= 0:
        raise IGNError(f"no training batches of a kind with a positive ratio {tuple(ratio)}")
    kind = rng.choice(4, p=weights / weights.sum())
    return int(rng.choice(np.flatnonzero(kinds == kind)))


def batch_factors(spec: DatasetSpec, kind: int, train_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(B, 4) factors of one batch varying only factor `kind`; the others are drawn once."""
    B = spec.batch_size
    base = np.append(rng.uniform(-1, 1, 3) * spec.ranges(), rng.choice(train_ids))
    f = np.tile(base, (B, 1))
    if kind == 3:
        f[:, 3] = rng.choice(train_ids, B, replace=False)
    else:
        f[:, kind] = rng.uniform(-1, 1, B) * spec.ranges()[kind]
    return f


def _render_identity(job: tuple[str, int, int, int, np.ndarray]) -> np.ndarray:
    """(family, seed, image size, identity, factor rows (N, 4)) -> (N, S, S) uint8 renders of that
    identity's object, which is built from its own seed (so any process renders the same images)."""
    import torch

    from invgfx.ign.shapes import family_object, render_object, single_thread

    family, seed, size, identity, rows = job
    with torch.no_grad(), single_thread():
        obj = family_object(family, seed, identity)
        return np.stack([(render_object(obj, float(a), float(e), float(l), size).numpy() * 255 + 0.5).astype(np.uint8)
                         for a, e, l in rows[:, :3]])


def generate(spec: DatasetSpec, progress: bool = True, workers: int = 1) -> IGNDataset:
    """Render the training batches and the test grid of `spec` (deterministic in spec.seed; the
    images do not depend on `workers`, the number of rendering processes)."""
    from multiprocessing import get_context

    from tqdm import tqdm

    train_ids, test_ids = split_identities(spec.n_identities, spec.n_test_identities, spec.seed)
    rng = np.random.default_rng([spec.seed, 1])
    kinds = np.repeat(np.arange(4), spec.batches)
    factors = np.stack([batch_factors(spec, k, train_ids, rng) for k in kinds])
    A, E, L = spec.grid
    grid_axes = [np.linspace(-r, r, n) if n > 1 else np.zeros(1) for r, n in zip(spec.ranges(), spec.grid)]
    grid = np.stack(np.meshgrid(test_ids, *grid_axes, indexing="ij"), -1).reshape(-1, 4)[:, [1, 2, 3, 0]]

    all_f = np.concatenate([factors.reshape(-1, 4), grid])
    ids = all_f[:, 3].astype(int)
    # one job per identity, so that each object is built once
    rows_of = [np.flatnonzero(ids == i) for i in np.unique(ids)]
    jobs = [(spec.family, spec.seed, spec.image_size, int(ids[r[0]]), all_f[r]) for r in rows_of]
    S = spec.image_size
    images = np.empty((len(all_f), S, S), np.uint8)
    # spawn: a fresh interpreter per worker (torch's thread pools do not survive fork well)
    with (get_context("spawn").Pool(workers) if workers > 1 else nullcontext()) as pool, \
            tqdm(total=len(all_f), desc=f"rendering {spec.family}", disable=not progress, unit="img") as bar:
        for rows, rendered in zip(rows_of, pool.imap(_render_identity, jobs) if pool else map(_render_identity, jobs)):
            images[rows] = rendered
            bar.update(len(rows))
    n_train = factors.shape[0] * factors.shape[1]
    train = BatchSet(images[:n_train].reshape(len(kinds), spec.batch_size, S, S), factors.astype(np.float32), kinds)
    test = TestGrid(images[n_train:].reshape(len(test_ids), A, E, L, S, S), test_ids, *grid_axes)
    return IGNDataset(train, test, spec)


def thin_part_views(spec: DatasetSpec, grid: TestGrid, progress: bool = True) -> np.ndarray | None:
    """(I, A, S, S) uint8: the test grid's views at its middle elevation and light rendered without the
    objects' thin parts, for `evaluate.thin_part_errors`; None for a family without thin parts."""
    import torch
    from tqdm import tqdm

    from invgfx.ign.shapes import family_object, render_object, single_thread

    I, A, E, L = grid.images.shape[:4]
    S = spec.image_size
    out = np.empty((I, A, S, S), np.uint8)
    with torch.no_grad(), single_thread():
        for i, identity in enumerate(tqdm(grid.identities, desc="thin parts", disable=not progress, unit="object")):
            obj = family_object(spec.family, spec.seed, int(identity))
            if not bool(obj.thin.any()):
                return None
            body = obj.without_thin_parts()
            for a, az in enumerate(grid.azimuths):
                img = render_object(body, float(az), float(grid.elevations[E // 2]), float(grid.lights[L // 2]), S)
                out[i, a] = (img.numpy() * 255 + 0.5).astype(np.uint8)
    return out


def cache_path(spec: DatasetSpec, cache_dir: str | Path = DEFAULT_CACHE) -> Path:
    return Path(cache_dir) / f"{spec.family}-{spec.image_size}px-{spec.key()}.npz"


def load_or_generate(spec: DatasetSpec, cache_dir: str | Path = DEFAULT_CACHE, progress: bool = True,
                     workers: int = 1) -> IGNDataset:
    """The dataset of `spec` from the cache, rendering it first with `workers` processes if needed."""
    path = cache_path(spec, cache_dir)
    if path.exists():
        with np.load(path) as z:
            train = BatchSet(z["train_images"], z["train_factors"], z["train_kinds"])
            test = TestGrid(z["test_images"], z["test_identities"], z["azimuths"], z["elevations"], z["lights"])
        return IGNDataset(train, test, spec)
    data = generate(spec, progress, workers)
    t, g = data.train, data.test
    with atomic_output(path) as tmp:
        np.savez(tmp, train_images=t.images, train_factors=t.factors, train_kinds=t.kinds, test_images=g.images,
                 test_identities=g.identities, azimuths=g.azimuths, elevations=g.elevations, lights=g.lights,
                 spec=json.dumps(asdict(spec)))
    return data


def dataset_of_checkpoint(meta: dict, cache_dir: str | Path = DEFAULT_CACHE,
                          workers: int = 1) -> tuple[DatasetSpec, IGNDataset]:
    """(spec, dataset) a checkpoint was trained on, from its meta ("dataset": the DatasetSpec as JSON),
    loaded from the cache or rendered again: the same seed gives the same test grid of unseen identities."""
    if "dataset" not in meta:
        raise IGNError("this checkpoint was trained on a folder of images (--data), which has no test grid of "
                       "unseen identities; evaluate it on a test folder with --data TEST_DIR (or sweep with --images)")
    spec = DatasetSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["dataset"].items()})
    return spec, load_or_generate(spec, cache_dir, workers=workers)


def export_folders(batches: BatchSet, root: str | Path) -> None:
    """Write batches in the original code's layout: root/AZ_VARIED/batch0001/00.png ... with a
    factors.csv (file, azimuth, elevation, light [rad], identity) in every batch folder."""
    from PIL import Image

    root = Path(root)
    for m, kind in enumerate(batches.kinds):
        folder = root / FOLDERS[FACTORS[kind]] / f"batch{m:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for b, img in enumerate(batches.images[m]):
            Image.fromarray(img).save(folder / f"{b:02d}.png")
            rows.append([f"{b:02d}.png", *batches.factors[m, b].tolist()])
        with open(folder / "factors.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([["file", *FACTORS], *rows])


def load_image(path: str | Path, size: int) -> np.ndarray:
    """A PNG/JPEG as (size, size) uint8 grayscale (resized if needed)."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path).convert("L")
    except FileNotFoundError:
        raise IGNError(f"{path}: no such image") from None
    except (UnidentifiedImageError, OSError) as err:
        raise IGNError(f"{path}: not a readable image ({err})") from None
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


# What users call the columns of a factors table (case-insensitive); `factor_columns` overrides.
COLUMN_NAMES = {
    "path": ("path", "file", "filename", "image", "img"),
    "azimuth": ("azimuth", "az", "azimuth_deg", "azimuth_rad", "view_azimuth", "pose_azimuth"),
    "elevation": ("elevation", "el", "elevation_deg", "elevation_rad", "view_elevation", "pose_elevation"),
    "light": ("light", "light_azimuth", "light_az", "light_azimuth_deg", "light_deg", "lighting"),
    "identity": ("identity", "id", "identity_id", "shape", "shape_id", "object", "object_id", "instance"),
}


def parse_factor_columns(text: str | None) -> dict[str, str]:
    """`--factor-columns light=sun_angle,identity=model` -> {"light": "sun_angle", ...}."""
    if not text:
        return {}
    out = {}
    for item in text.split(","):
        key, sep, column = item.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or key not in COLUMN_NAMES or not column:
            raise IGNError(f"--factor-columns {text!r}: write FACTOR=COLUMN pairs joined by commas, FACTOR one of "
                           f"{', '.join(COLUMN_NAMES)} (e.g. light=light_azimuth,path=file)")
        out[key] = column
    return out


class FactorTable:
    """The factors of a folder's images, from a `factors.csv` at its top (paths relative to it)
    or in each batch folder (paths relative to that folder, or bare file names), with columns
    found by `COLUMN_NAMES` / `factor_columns`. Angles are radians, or degrees when the column
    name ends in `_deg` or any value lies beyond 2 pi (said once)."""

    def __init__(self, path: Path, factor_columns: dict[str, str]):
        self.path = path
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            rows = list(reader)
        lower = {h.strip().lower(): h for h in header}
        self.columns = {}
        for key, aliases in COLUMN_NAMES.items():
            wanted = factor_columns.get(key)
            if wanted is not None:
                if wanted not in header and wanted.lower() not in lower:
                    raise IGNError(f"{path}: --factor-columns names column {wanted!r} for {key}, but the columns are "
                                   f"{', '.join(header)}")
                self.columns[key] = wanted if wanted in header else lower[wanted.lower()]
            else:
                found = next((lower[a] for a in aliases if a in lower), None)
                if found is not None:
                    self.columns[key] = found
        if "path" not in self.columns:
            raise IGNError(f"{path}: no column of image paths (one of {', '.join(COLUMN_NAMES['path'])}); the columns are "
                           f"{', '.join(header)}; name it with --factor-columns path=COLUMN")
        if not any(k in self.columns for k in FACTORS):
            raise IGNError(f"{path}: no factor columns ({', '.join(FACTORS)} or their usual names); the columns are "
                           f"{', '.join(header)}; map them with --factor-columns, e.g. light=light_azimuth")
        self.rows = {}
        for line, row in enumerate(rows, start=2):
            key = str(row.get(self.columns["path"], "")).strip().replace("\\", "/")
            values = []
            for name in FACTORS:
                column = self.columns.get(name)
                text = None if column is None else row.get(column)
                if text is None or str(text).strip() == "":
                    values.append(np.nan)
                    continue
                try:
                    values.append(float(text))
                except ValueError:
                    raise IGNError(f"{path}: line {line}, column {column!r} is {text!r}; {name} must be a number") from None
            self.rows[key] = np.array(values)
        self.degrees = set()
        for k, name in enumerate(FACTORS[:3]):
            column = self.columns.get(name)
            values = np.array([v[k] for v in self.rows.values()])
            if column and (column.lower().endswith("_deg") or np.nanmax(np.abs(values), initial=0) > 2 * np.pi + 1e-3):
                self.degrees.add(name)
                for v in self.rows.values():
                    v[k] = np.radians(v[k])

    def lookup(self, root: Path, folder: Path, file: Path) -> np.ndarray | None:
        """(4,) factors of `file`, keyed by its path relative to the table's folder, to `root`, or
        its bare name; None if the table has no row for it."""
        for key in (file.relative_to(self.path.parent).as_posix() if file.is_relative_to(self.path.parent) else None,
                    file.relative_to(root).as_posix(), file.name):
            if key is not None and key in self.rows:
                return self.rows[key]
        return None


def load_folders(root: str | Path, image_size: int, factor_columns: dict[str, str] | None = None) -> BatchSet:
    """Batches from the original code's layout: root/{AZ_VARIED,EL_VARIED,LIGHT_AZ_VARIED,SHAPE_VARIED}/
    <batch folder>/*.png (any names, sorted). Every batch needs the same number of images. Known
    factors come from a `factors.csv` at the top (paths relative to root) or in each batch folder
    (`FactorTable`), or there are none; a table that exists must give every image of its scope
    its numbers, or it is an error naming the image."""
    root = Path(root)
    if not root.is_dir():
        raise IGNError(f"--data {root}: not a folder")
    columns = factor_columns or {}
    top = FactorTable(root / "factors.csv", columns) if (root / "factors.csv").is_file() else None
    images, factors, kinds = [], [], []
    degrees = set()
    for k, name in enumerate(FOLDERS.values()):
        for folder in sorted(p for p in (root / name).glob("*") if p.is_dir()):
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
            if len(files) < 2:
                raise IGNError(f"{folder}: a batch needs at least 2 images, found {len(files)}")
            if images and len(files) != images[0].shape[0]:
                raise IGNError(f"{folder}: {len(files)} images, but earlier batches have {images[0].shape[0]}; "
                               "every batch needs the same number")
            images.append(np.stack([load_image(f, image_size) for f in files]))
            table = FactorTable(folder / "factors.csv", columns) if (folder / "factors.csv").is_file() else top
            rows = np.full((len(files), 4), np.nan)
            if table is not None:
                degrees |= table.degrees
                for i, f in enumerate(files):
                    found = table.lookup(root, folder, f)
                    if found is None:
                        raise IGNError(f"{table.path}: no row for {f.relative_to(root).as_posix()} (its path column "
                                       f"{table.columns['path']!r} holds paths like "
                                       f"{next(iter(table.rows), '?')!r}); every image needs its factors")
                    rows[i] = found
            factors.append(rows)
            kinds.append(k)
    if not images:
        raise IGNError(f"{root}: no batch folders; expected subfolders of {', '.join(FOLDERS.values())}")
    if degrees:
        import warnings

        warnings.warn(f"{root}: {', '.join(sorted(degrees))} read as degrees (a column named *_deg, or values beyond "
                      "2 pi) and converted to radians", stacklevel=2)
    return BatchSet(np.stack(images), np.stack(factors).astype(np.float32), np.array(kinds))
