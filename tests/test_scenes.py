"""Procedural objects: determinism, sizes, parts, parameters."""

import pytest
import torch

from invgfx.scenes import SCENES, SceneError, make_scene


@pytest.mark.parametrize("name", sorted(SCENES))
def test_deterministic_and_sized(name):
    a = make_scene(name, seed=4, n_gaussians=3000)
    b = make_scene(name, seed=4, n_gaussians=3000)
    assert torch.equal(a.cloud.means, b.cloud.means) and torch.equal(a.cloud.sh, b.cloud.sh)
    assert 0.6 * 3000 < len(a.cloud) < 1.6 * 3000
    assert a.parts.shape == (len(a.cloud),) and set(a.parts.tolist()) <= set(range(len(a.part_names)))
    c = make_scene(name, seed=5, n_gaussians=3000)
    assert len(c.cloud) != len(a.cloud) or not torch.equal(c.cloud.means, a.cloud.means)


def test_geometry_matches_parameters():
    ball = make_scene("ball", radius=0.3, n_gaussians=4000)
    assert 0.27 < float(ball.cloud.means.norm(dim=1).max()) <= 0.3
    box = make_scene("box", size=[0.4, 0.2, 0.6], n_gaussians=4000)
    lo, hi = box.cloud.bounding_box()
    assert torch.allclose(hi - lo, torch.tensor([0.4, 0.2, 0.6]), atol=0.03) and abs(float(lo[2])) < 0.03
    plant = make_scene("plant", height=1.2, n_gaussians=6000)
    pot = plant.cloud.means[plant.part_mask("pot")]
    assert float(pot[:, 2].max()) <= 0.2 * 1.2 + 1e-6 and plant.part_mask("leaves").sum() > 100
    cable = make_scene("cable", length=2.0)
    ends = cable.cloud.means[cable.part_mask("anchor_a")]
    assert float(ends[:, 0].max()) < -1.0 + 0.08 + 1e-6
    chair = make_scene("chair", arms=True, seat_height=0.45)
    assert chair.part_mask("arms").sum() > 0 and chair.params["seat_height"] == 0.45
    assert make_scene("chair", arms=False).part_mask("arms").sum() == 0


def test_errors_name_the_parameter():
    with pytest.raises(SceneError, match="unknown scene 'teapot'"):
        make_scene("teapot")
    with pytest.raises(SceneError, match="no parameter wings"):
        make_scene("chair", wings=2)
    with pytest.raises(SceneError, match="part 'lid'"):
        make_scene("plant", n_gaussians=500).part_mask("lid")
