"""PhysGaussian / DreamPhysics scene configs read as their code reads them, on real-layout captures.

tests/data/physgaussian/*.json and tests/data/dreamphysics/*.json carry the values of their
public configs. The captures are closed surfaces of flat Gaussians (conftest.surface_capture)
placed where each config expects its object: inside `sim_area` after the config's rotations,
with a floor outside it, or off-centre at another scale.
"""

import json
import math
import warnings
from pathlib import Path

import pytest
import torch

from conftest import surface_capture
from invgfx.mpm import MPMError, Simulator, from_physgaussian, load_config
from invgfx.mpm.gaussians import prepare_particles, render_state, scene_camera, scene_rotation

DATA = Path(__file__).resolve().parent / "data"
PUBLIC = sorted((DATA / "physgaussian").glob("*.json")) + sorted((DATA / "dreamphysics").glob("*.json"))
# What a warning may say about a public config: the defaults it leaves out and a missing bounding box.
ALLOWED = ("PhysGaussian's defaults are used", "has no bounding_box")


def capture_for(cfg, n=15000):
    """A capture laid out for `cfg`: authored upright (z up) where the config wants the object, then
    turned by the inverse of the config's rotations, so that its rotations make it upright again."""
    R = scene_rotation(cfg.rotations)
    if cfg.sim_area is not None:
        box = torch.tensor(cfg.sim_area).reshape(3, 2)
        center, extent = box.mean(1), box[:, 1] - box[:, 0]
        size = 0.8 * float(extent.min())
        floor_z = float(box[2, 0]) - 0.1 * float(extent[2])  # below the box: not selected
        return surface_capture(center.tolist(), size, n, rotation=R.T, floor=n // 10, floor_z=floor_z), R
    return surface_capture((3.0, -1.0, 2.0), 2.5, n, rotation=R.T), R


def load_public(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = load_config(path, e_unit="1e7Pa" if path.parent.name == "dreamphysics" else None)
    unexpected = [str(w.message) for w in caught if not any(a in str(w.message) for a in ALLOWED)]
    assert not unexpected, unexpected
    return cfg


@pytest.mark.parametrize("path", PUBLIC, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_public_config_loads_selects_fills_and_simulates(path):
    cfg = load_public(path)
    cloud, R = capture_for(cfg)
    p = prepare_particles(cloud.means, cloud.covariances(), cloud.opacities, cfg, generator=torch.Generator().manual_seed(0))
    # the selection PhysGaussian makes: opacity above the threshold, inside sim_area after the rotations
    expected = cloud.opacities > cfg.opacity_threshold
    if cfg.sim_area is not None:
        box = torch.tensor(cfg.sim_area).reshape(3, 2)
        rotated = cloud.means @ R.T
        expected &= ((rotated > box[:, 0]) & (rotated < box[:, 1])).all(1)
        assert 0 < expected.sum() < len(cloud.means)  # the floor lies outside
    captured = (p.gaussian_index >= 0) & (p.gaussian_index < len(cloud.means))
    assert torch.equal(p.gaussian_index[captured], torch.nonzero(expected).squeeze(1))
    if cfg.particle_filling is not None:
        assert (~captured).sum() > 0  # the closed capture is filled (hidden or, with `visualize`, shown)
        assert (p.shown_fill is not None) == cfg.particle_filling.visualize
    lo, hi = p.positions[captured].amin(0), p.positions[captured].amax(0)
    assert float((hi - lo).max()) == pytest.approx(cfg.object_size, rel=1e-4)  # PhysGaussian's `scale`
    assert torch.allclose((hi + lo) / 2, torch.ones(3), atol=1e-4)  # centred at (1, 1, 1)
    sim = Simulator(cfg, p.positions, p.volumes)
    state = sim.run(sim.initial_state(), None, 2)
    assert torch.isfinite(state.x).all() and torch.isfinite(state.F).all()
    image = render_state(cloud, p, state.x, state.F, scene_camera(cfg, 0, 24, 24))
    assert torch.isfinite(image).all()


def test_scale_key_sets_the_longest_side_and_default_is_one_metre():
    data = json.loads((DATA / "physgaussian" / "tear_bread.json").read_text())
    assert load_public(DATA / "physgaussian" / "tear_bread.json").object_size == 0.6
    data.pop("scale")
    assert from_physgaussian(data).object_size == 1.0
