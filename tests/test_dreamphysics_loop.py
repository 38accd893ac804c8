"""Frame groups, parameter layouts, log-domain updates and the optimisation loop of
invgfx.dreamphysics, driven by an analytic simulator (a blob on a damped spring)."""

import csv
import json
import math
from dataclasses import replace

import pytest
import torch

from invgfx.dreamphysics import (
    AnalyticSDSPrior, DreamPhysicsError, LearnConfig, LogUpdate, ParameterSet, ReferenceVideoPrior, field,
    group_frames, group_of_epoch, learn, regions, scalar,
)
from invgfx.dreamphysics.updates import adam_step, cosine_anneal, eq5_step, reference_step
from invgfx.dreamphysics.toy import SpringBlob

K_TRUE = 40.0  # N/m


def log10_E_video(params, frames):
    """A stand-in simulator for losses drawn directly over E: every pixel of every frame is log10(E) / 10."""
    return (params["E"].value.log10() / 10).reshape(1, 1, 1, 1).expand(len(frames), 3, 4, 4)


def test_groups_cover_every_frame_exactly_once():
    for m, t in [(8, 16), (3, 25), (1, 5), (4, 1)]:
        groups = torch.stack([group_frames(i, m, t) for i in range(m)])
        assert groups[:, 0].tolist() == list(range(m))  # group i starts at frame i
        assert (groups.diff(dim=1) == m).all()  # stride M, not M + 1
        assert sorted(groups.flatten().tolist()) == list(range(m * t))
    assert group_frames(2, 8, 16).tolist() == [2 + 8 * k for k in range(16)]
    assert [group_of_epoch(e, 3) for e in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(DreamPhysicsError, match="group=3"):
        group_frames(3, 3, 4)


def _stepped(mode, param, grad, lr):
    """param's values after one LogUpdate step of `mode` with gradient dL/dtheta `grad`."""
    param.value.grad = grad.clone()
    LogUpdate(mode, lr=lr).step(ParameterSet([param]))
    return param.value.detach()


def test_eq5_step_is_gradient_on_log_parameter():
    value, grad = torch.tensor([1e5, 2e3]), torch.tensor([3e-6, -1e-4])
    new = _stepped("eq5", field("E", value, 1.0, 1e9), grad, lr=500.0)
    torch.testing.assert_close(new.log(), value.log() - 500.0 * grad)
    torch.testing.assert_close(eq5_step(grad, 500.0), -500.0 * grad)
    still = field("E", value, 1.0, 1e9)
    assert torch.equal(_stepped("eq5", still, torch.zeros(2), lr=1.0), value)  # a zero step leaves theta exactly


def test_reference_step_min_max_normalises_in_log10():
    grad = torch.tensor([-2.0, 0.0, 6.0])
    new = _stepped("reference", field("E", torch.full((3,), 1e5), 1.0, 1e9), grad, lr=1.0)
    # normalised: (g - min) / (max - min) - 0.5 = [-0.5, -0.25, 0.5]
    torch.testing.assert_close(new.log10(), torch.tensor([5.5, 5.25, 4.5]))
    # A single value keeps the gradient's sign: log10 moves by lr / 2.
    single = _stepped("reference", scalar("E", 1e5, 1.0, 1e9), torch.tensor([-3e-7]), 1.0)
    torch.testing.assert_close(single.log10(), torch.tensor([5.5]))
    torch.testing.assert_close(reference_step(torch.tensor([1.0]), 2.0), -torch.tensor([math.log(10.0)]))


def test_adam_step_matches_torch_adam_on_log_parameter():
    value = torch.tensor([1e4, 3e5])
    param = field("E", value, 1.0, 1e9)
    update = LogUpdate("adam", lr=0.05, betas=(0.5, 0.9), eps=1e-8)
    log_value = value.log().clone().requires_grad_(True)
    opt = torch.optim.Adam([log_value], lr=0.05, betas=(0.5, 0.9), eps=1e-8)
    for g in [torch.tensor([1e-4, -2e-6]), torch.tensor([5e-5, 1e-6]), torch.tensor([-1e-4, 3e-6])]:
        opt.zero_grad()
        log_value.grad = g * param.value.detach()  # dL/dlog(theta) = theta dL/dtheta
        param.value.grad = g.clone()
        update.step(ParameterSet([param]))
        opt.step()
        torch.testing.assert_close(param.value.detach().log(), log_value.detach(), rtol=1e-5, atol=1e-5)
    step, m, v = adam_step(torch.tensor([2.0]), torch.zeros(1), torch.zeros(1), 1, lr=0.1)
    torch.testing.assert_close(step, torch.tensor([-0.1]))  # the first step is lr, whatever the gradient's size


def test_poissons_ratio_steps_through_a_logit_and_never_leaves_its_range():
    """nu lives in (0, 0.5): Adam on logit(nu / 0.5) with dL/du = nu (0.5 - nu) / 0.5 dL/dnu, as
    torch's Adam on that coordinate; a huge gradient moves it by lr in u, not past 0.5."""
    nu = scalar("nu", 0.3, 0.01, 0.49)
    assert nu.interval == (0.0, 0.5)
    u = torch.logit(torch.tensor([0.3 / 0.5])).requires_grad_(True)
    opt = torch.optim.Adam([u], lr=0.4, betas=(0.5, 0.9), eps=1e-20)
    update = LogUpdate("adam", lr=0.4, betas=(0.5, 0.9))
    for g in (-1e3, -2e3, 5e2):
        loss_u = (0.5 * torch.sigmoid(u)) * g  # dL/dnu = g, through nu = 0.5 sigmoid(u)
        opt.zero_grad()
        loss_u.sum().backward()
        opt.step()
        nu.value.grad = torch.tensor([g])
        update.step(ParameterSet([nu]))
        torch.testing.assert_close(nu.value.detach(), 0.5 * torch.sigmoid(u.detach()), rtol=1e-5, atol=1e-6)
        assert 0.01 <= float(nu.value.detach()) <= 0.49
    assert float(nu.value.detach()) < 0.49  # three lr-sized steps in u from 0.3 stay inside the range
    with pytest.raises(DreamPhysicsError, match=r"strictly inside \(0, 0.5\)"):
        scalar("nu", 0.3, 0.0, 0.5)


def test_each_parameter_steps_at_its_own_learning_rate_on_the_runs_schedule():
    E, rho = scalar("E", 1e5, 1.0, 1e9), scalar("density", 100.0, 1.0, 1e4, lr=0.02)
    update = LogUpdate("adam", lr=0.2)
    for p in (E, rho):
        p.value.grad = torch.tensor([1.0])
    update.step(ParameterSet([E, rho]), lr=0.1)  # the schedule halves both
    assert math.log(1e5 / float(E.value.detach())) == pytest.approx(0.1, rel=1e-4)
    assert math.log(100.0 / float(rho.value.detach())) == pytest.approx(0.01, rel=1e-4)
    with pytest.raises(DreamPhysicsError, match="learning rate"):
        scalar("E", 1e5, 1.0, 1e9, lr=-1)


def test_cosine_anneal_anneals_from_lr_to_lr_final():
    assert [cosine_anneal(0.3, None, e, 30) for e in (0, 15, 29)] == [0.3, 0.3, 0.3]
    assert cosine_anneal(0.3, 0.03, 0, 30) == pytest.approx(0.3)
    assert cosine_anneal(0.3, 0.03, 29, 30) == pytest.approx(0.03)
    assert cosine_anneal(0.3, 0.03, 100, 30) == pytest.approx(0.03)  # a resumed run past the schedule keeps lr_final
    halfway = 0.03 + 0.5 * 0.27 * (1 + math.cos(math.pi * 10 / 29))
    assert cosine_anneal(0.3, 0.03, 10, 30) == pytest.approx(halfway)


def test_annealed_adam_settles_closer_than_constant_lr():
    """Adam with small betas steps ~lr whatever |g|: at a constant lr log(theta) keeps rattling
    around the optimum; annealed to lr / 10 it ends within ~lr / 10 of it."""
    errors = {}
    for lr_final in (None, 0.03):
        params = ParameterSet([scalar("stiffness", 1.0, 1e-3, 1e3)])
        update = LogUpdate("adam", 0.3, betas=(0.5, 0.5))
        for epoch in range(30):
            value = params["stiffness"].value
            value.grad = torch.sign(torch.log(value.detach() / 37.0)) / value.detach()  # dL/dlog = sign(log(theta/37))
            update.step(params, cosine_anneal(0.3, lr_final, epoch, 30))
        errors[lr_final] = abs(math.log(float(params["stiffness"].value) / 37.0))
    assert errors[0.03] < 0.05 < errors[None]


@pytest.mark.parametrize("mode", ["eq5", "reference", "adam"])
def test_updates_respect_bounds(mode):
    params = ParameterSet([scalar("E", 2e4, 1e4, 1e6), field("density", torch.tensor([150.0, 900.0]), 100.0, 1000.0)])
    update = LogUpdate(mode, lr=1e3)
    for sign in (1.0, -1.0):
        for _ in range(3):
            params["E"].value.grad = torch.tensor([sign * 1.0])
            params["density"].value.grad = torch.tensor([sign * 1.0, -sign * 1.0])
            update.step(params)
        e, rho = params["E"].value.detach(), params["density"].value.detach()
        assert 1e4 <= float(e) <= 1e6 and ((rho >= 100.0) & (rho <= 1000.0)).all()
    assert float(params["E"].value.detach()) == pytest.approx(1e6)  # the last pushes went up to the upper bound


def test_region_and_field_layouts():
    boxes = [[[0, 0, 0], [1, 1, 1]], [[0.5, 0, 0], [2, 1, 1]]]  # overlapping: the later box wins
    e = regions("E", 1e5, boxes, [2e5, 3e5], 1e3, 1e7)
    pos = torch.tensor([[0.2, 0.5, 0.5], [0.7, 0.5, 0.5], [1.5, 0.5, 0.5], [3.0, 0.5, 0.5]])
    per = e.per_particle(pos)
    assert per.tolist() == [2e5, 3e5, 3e5, 1e5]
    per.sum().backward()
    assert e.value.grad.tolist() == [1.0, 1.0, 2.0]  # one particle outside, one in box 0, two in box 1
    assert e.summary()["E_min"] == 1e5
    with pytest.raises(DreamPhysicsError, match="3 per-particle values, the scene 4 particles"):
        field("E", torch.full((3,), 1e5), 1e3, 1e7).per_particle(pos)
    with pytest.raises(DreamPhysicsError, match="outside the bounds"):
        scalar("E", 10.0, 1e3, 1e7)
    with pytest.raises(DreamPhysicsError, match="0 < lo"):
        scalar("density", 100.0, 0.0, 1e3)
    with pytest.raises(DreamPhysicsError, match="strictly inside"):
        scalar("nu", 0.3, 0.0, 0.49)


def _spring_target(sim: SpringBlob, n_frames: int) -> torch.Tensor:
    return sim(ParameterSet([scalar("stiffness", K_TRUE, 1.0, 1e4)]), torch.arange(n_frames)).detach()


@pytest.mark.parametrize("k0", [K_TRUE / 4, K_TRUE * 4])
def test_reference_video_run_recovers_stiffness(k0):
    sim = SpringBlob()
    config = LearnConfig(epochs=24, groups=2, frames_per_group=8, lr=0.1)
    params = ParameterSet([scalar("stiffness", k0, 1.0, 1e4)])
    history = learn(sim, params, ReferenceVideoPrior(_spring_target(sim, 16)), config, progress=False)
    ks = [h["stiffness"] for h in history]
    assert abs(ks[0] - K_TRUE) < abs(k0 - K_TRUE)  # the first step already moves toward the truth
    assert ks[-1] == pytest.approx(K_TRUE, rel=0.05)
    assert history[-1]["loss"] < 0.1 * history[0]["loss"]


def test_analytic_sds_run_recovers_stiffness_and_calls_groups_in_turn():
    sim = SpringBlob()
    calls = []

    def simulate(params, frames):
        calls.append(frames.tolist())
        return sim(params, frames)

    config = LearnConfig(epochs=24, groups=2, frames_per_group=8, lr=0.1)
    params = ParameterSet([scalar("stiffness", K_TRUE / 4, 1.0, 1e4)])
    history = learn(simulate, params, AnalyticSDSPrior(_spring_target(sim, 16)), config, progress=False)
    assert history[-1]["stiffness"] == pytest.approx(K_TRUE, rel=0.05)
    assert calls[:3] == [list(range(0, 16, 2)), list(range(1, 16, 2)), list(range(0, 16, 2))]
    assert [h["group"] for h in history[:4]] == [0, 1, 0, 1]


def test_checkpoint_resume_continues_exactly(tmp_path):
    sim = SpringBlob(size=16)
    prior = AnalyticSDSPrior(_spring_target(sim, 8))  # random t and noise: the resumed generator must match
    make = lambda: ParameterSet([scalar("stiffness", 10.0, 1.0, 1e4)])  # noqa: E731
    straight = make()
    full = learn(sim, straight, prior, LearnConfig(epochs=6, groups=2, frames_per_group=4), progress=False)

    resumed = make()
    learn(sim, resumed, prior, LearnConfig(epochs=3, groups=2, frames_per_group=4), out_dir=tmp_path, progress=False)
    with pytest.raises(DreamPhysicsError, match="exists: pass resume"):
        learn(sim, make(), prior, LearnConfig(epochs=6, groups=2, frames_per_group=4), out_dir=tmp_path, progress=False)
    with pytest.raises(DreamPhysicsError, match="groups=2, this run has groups=3"):
        learn(sim, make(), prior, LearnConfig(epochs=6, groups=3, frames_per_group=4), out_dir=tmp_path, resume=True,
              progress=False)
    fresh = make()  # a new process: parameters start from their initial values, the checkpoint restores them
    history = learn(sim, fresh, prior, LearnConfig(epochs=6, groups=2, frames_per_group=4), out_dir=tmp_path,
                    resume=True, progress=False)
    assert [h["stiffness"] for h in history] == pytest.approx([h["stiffness"] for h in full], rel=1e-6)
    assert float(fresh["stiffness"].value.detach()) == pytest.approx(float(straight["stiffness"].value.detach()), rel=1e-6)

    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(6))
    assert float(rows[-1]["stiffness"]) == pytest.approx(float(fresh["stiffness"].value.detach()), rel=1e-6)
    saved = json.loads((tmp_path / "params.json").read_text())
    assert saved["stiffness"]["value"] == pytest.approx(float(fresh["stiffness"].value.detach()), rel=1e-6)
    assert saved["stiffness"]["bounds"] == [1.0, 1e4]
    assert math.isfinite(float(rows[0]["loss"]))


def test_search_starts_in_the_basin_of_a_loss_that_is_flat_far_from_it(tmp_path):
    """A loss flat (to float precision) beyond a decade from the answer: gradient steps from 100x
    off stay put; with search the run starts next to the answer and ends there."""
    from invgfx.dreamphysics.loop import search_start
    from invgfx.dreamphysics.prior import VideoPrior

    class Basin(VideoPrior):  # video brightness = log10(E) / 10; loss 1 - exp(-(decades from 1e5 / 0.2)^2)
        calls = 0

        def loss(self, video, condition, generator=None):
            Basin.calls += 1
            return 1 - torch.exp(-((video.mean() * 10 - 5) / 0.2) ** 2)

    config = LearnConfig(epochs=10, groups=2, frames_per_group=2, lr=0.2)
    plain = ParameterSet([scalar("E", 1e3, 1e1, 1e9)])
    learn(log10_E_video, plain, Basin(), config, progress=False)
    assert float(plain["E"].value) == pytest.approx(1e3, rel=1e-3)  # no slope to follow
    searched = ParameterSet([scalar("E", 1e3, 1e1, 1e9)])
    history = learn(log10_E_video, searched, Basin(), replace(config, search=9), out_dir=tmp_path, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "search.csv")))
    assert [float(r["E"]) for r in rows] == pytest.approx([1e3] + [10.0 ** k for k in range(1, 10)])
    assert float(rows[5]["loss"]) == pytest.approx(0, abs=1e-6)  # the grid point at 1e5 is the answer
    assert history[-1]["E"] == pytest.approx(1e5, rel=0.05)
    Basin.calls = 0
    search_start(log10_E_video, ParameterSet([scalar("E", 1e3, 1e1, 1e9)]), Basin(), replace(config, search=3),
                 progress=False)
    assert Basin.calls == 4 * 2  # start + 3 values, every group
    with pytest.raises(DreamPhysicsError, match="one global value"):
        search_start(log10_E_video, ParameterSet([scalar("nu", 0.3, 0.1, 0.45)]), Basin(), replace(config, search=3))


def test_jittered_view_differentiates_at_the_jittered_value_within_bounds():
    params = ParameterSet([scalar("E", 1e5, 1e4, 2e5), field("density", torch.tensor([300.0, 900.0]), 100.0, 1000.0)])
    view = params.jittered(0.7, torch.Generator().manual_seed(3))
    e, rho = view["E"].value, view["density"].value
    assert 1e4 <= float(e) <= 2e5 and ((rho >= 100.0) & (rho <= 1000.0)).all()
    assert float(e) != pytest.approx(1e5) and params["E"].value.detach().item() == pytest.approx(1e5)
    (torch.log(e) ** 2).sum().backward()  # L = (log E')^2: dL/dlog E' = 2 log E'
    assert float(params["E"].value.grad * params["E"].value.detach()) == pytest.approx(2 * math.log(float(e)), rel=1e-5)
    assert params.jittered(0.0, torch.Generator())["E"].value.item() == pytest.approx(1e5)


def test_jitter_steps_over_narrow_local_minima():
    """Loss in decades d = log10 E: a bowl around 4.5 with ripples of period 0.25 decades, a
    local minimum every 0.25. Plain Adam steps from 1e3 stop in the second ripple (3.5); jittered
    by sigma 0.7 (0.3 decades, annealed to 0) each step follows the gradient at a random nearby
    E, which averages the ripples out, and every seed ends within 0.5 decades of the bottom."""
    from invgfx.dreamphysics.prior import VideoPrior

    class RippledBowl(VideoPrior):  # video brightness = log10(E) / 10
        def loss(self, video, condition, generator=None):
            d = video.mean() * 10
            return 0.05 * (d - 4.5) ** 2 + 0.02 * torch.sin(math.pi * d / 0.25) ** 2

    def end(jitter, seed):
        params = ParameterSet([scalar("E", 1e3, 1e1, 1e9)])
        config = LearnConfig(epochs=40, groups=1, frames_per_group=1, lr=0.3, lr_final=0.03, jitter=jitter, seed=seed)
        return math.log10(learn(log10_E_video, params, RippledBowl(), config, progress=False)[-1]["E"])

    assert end(0.0, 0) == pytest.approx(3.5, abs=0.05)
    assert all(abs(end(0.7, seed) - 4.5) <= 0.5 for seed in range(6))


def test_jittered_run_resumes_exactly_and_checks_the_setting(tmp_path):
    sim = SpringBlob(size=16)
    prior = AnalyticSDSPrior(_spring_target(sim, 8))
    make = lambda: ParameterSet([scalar("stiffness", 10.0, 1.0, 1e4)])  # noqa: E731
    config = LearnConfig(epochs=6, groups=2, frames_per_group=4, jitter=0.5)
    full = learn(sim, make(), prior, config, progress=False)

    class Stop(Exception):
        pass

    def stop_after_three(epoch, params):
        if epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        learn(sim, make(), prior, config, out_dir=tmp_path, on_epoch=stop_after_three, progress=False)
    with pytest.raises(DreamPhysicsError, match="jitter=0.5, this run has jitter=0.0"):
        learn(sim, make(), prior, replace(config, jitter=0.0), out_dir=tmp_path, resume=True, progress=False)
    history = learn(sim, make(), prior, config, out_dir=tmp_path, resume=True, progress=False)
    assert [h["stiffness"] for h in history] == pytest.approx([h["stiffness"] for h in full], rel=1e-6)
    # a checkpoint written before the setting existed resumes as jitter 0
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    del ckpt["config"]["jitter"]
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    with pytest.raises(DreamPhysicsError, match="jitter=0.0, this run has jitter=0.5"):
        learn(sim, make(), prior, replace(config, epochs=7), out_dir=tmp_path, resume=True, progress=False)
    learn(sim, make(), prior, replace(config, jitter=0.0, epochs=7), out_dir=tmp_path, resume=True, progress=False)


def test_history_reports_the_gradient_in_the_update_coordinate():
    """dL/du = theta dL/dtheta for E: on the log10(E)/10 video against a target at 1e5, the
    reference loss's gradient is known in closed form at the start."""
    target = torch.full((2, 3, 12, 12), 5.0 / 10)  # log10(1e5) / 10

    def video(params, frames):
        return log10_E_video(params, frames).repeat(1, 1, 3, 3)  # 12 px: SSIM needs 11

    params = ParameterSet([scalar("E", 1e3, 1.0, 1e9)])
    prior = ReferenceVideoPrior(target, ssim_weight=0.0)  # L2 only: d/dlogE of (log10 E / 10 - 0.5)^2
    history = learn(video, params, prior, LearnConfig(epochs=2, groups=1, frames_per_group=2, lr=0.1),
                    progress=False)
    expected = 2 * (3.0 / 10 - 0.5) / (10 * math.log(10))
    assert history[0]["dL/du_E"] == pytest.approx(expected, rel=1e-4)
    assert abs(history[1]["dL/du_E"]) < abs(history[0]["dL/du_E"])  # a step closer, a smaller slope


def test_stop_flat_ends_a_run_whose_gradient_has_faded():
    """On the Basin loss (flat far from 1e5): started on its slope, the run converges and stops
    once |dL/dlogE| stays below 1 % of its largest, instead of running all its epochs. (The test is
    relative to the run's own gradients: a run that starts on a plateau has nothing to compare.)"""
    from invgfx.dreamphysics.loop import FLAT_EPOCHS
    from invgfx.dreamphysics.prior import VideoPrior

    class Basin(VideoPrior):
        def loss(self, video, condition, generator=None):
            return 1 - torch.exp(-((video.mean() * 10 - 5) / 0.2) ** 2)

    config = LearnConfig(epochs=80, groups=1, frames_per_group=2, lr=0.05, lr_final=0.005, stop_flat=0.01)
    slope = ParameterSet([scalar("E", 2e5, 1e1, 1e9)])
    with pytest.warns(UserWarning, match="stopped after epoch"):
        history = learn(log10_E_video, slope, Basin(), config, progress=False)
    assert len(history) < 80 and history[-1]["E"] == pytest.approx(1e5, rel=0.05)
    sizes = [abs(h["dL/du_E"]) for h in history]
    assert max(sizes[-FLAT_EPOCHS:]) < 0.01 * max(sizes)
    assert len(learn(log10_E_video, ParameterSet([scalar("E", 2e5, 1e1, 1e9)]), Basin(), replace(config, stop_flat=0.0),
                     progress=False)) == 80


def test_resume_refuses_another_coordinate_or_learning_rate(tmp_path):
    sim = SpringBlob(size=16)
    prior = ReferenceVideoPrior(_spring_target(sim, 8))
    config = LearnConfig(epochs=2, groups=2, frames_per_group=4)
    learn(sim, ParameterSet([scalar("stiffness", 10.0, 1.0, 1e4, lr=0.2)]), prior, config, out_dir=tmp_path, progress=False)
    with pytest.raises(DreamPhysicsError, match=r"parameter stiffness was learnt with .*'lr': 0.2.*resume with the same --learn"):
        learn(sim, ParameterSet([scalar("stiffness", 10.0, 1.0, 1e4)]), prior, replace(config, epochs=3), out_dir=tmp_path,
              resume=True, progress=False)
    with pytest.raises(DreamPhysicsError, match="stop_flat"):
        learn(sim, ParameterSet([scalar("stiffness", 10.0, 1.0, 1e4)]), prior, replace(config, stop_flat=1.5), progress=False)
