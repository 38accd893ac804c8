"""DC-IGN network, clamping with the invariance gradient, SGVB loss, training and checkpoints."""

import copy

import numpy as np
import pytest
import torch

from invgfx.ign import FACTORS, IGNError
from invgfx.ign.data import BatchSet
from invgfx.ign.model import (DCIGN, IGNConfig, active_mask, clamp_latents, invariance_consistency, mirror_consistency,
                              n_parameters, sgvb_loss, spread_consistency, swap_latents, uniform_order_statistics)
from invgfx.ign.train import (UNTIL_BUDGET, ThreadPicker, TrainConfig, draw_batch, load_checkpoint, mirror_subset,
                              recipe, to_tensor, train, train_step)
from invgfx.ign.shapes import single_thread


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with single_thread():  # tiny tensors: one thread is fastest, above all on a busy shared machine
        yield


def test_clamp_forward_uses_batch_mean_and_backward_is_invariance_gradient():
    z = torch.tensor([[1.0, 4.0, -1.0], [3.0, 0.0, 2.0]], requires_grad=True)
    active = torch.tensor([True, False, False])
    out = clamp_latents(z, active, strength=0.01)
    # batch means: [2, 2, 0.5]; only column 0 keeps its per-sample values
    assert torch.equal(out.detach(), torch.tensor([[1.0, 2.0, 0.5], [3.0, 2.0, 0.5]]))
    upstream = torch.tensor([[5.0, 7.0, 9.0], [11.0, 13.0, 15.0]])
    (out * upstream).sum().backward()
    # active: upstream unchanged; inactive: 0.01 * (z - mean), the reconstruction signal is dropped
    expected = torch.tensor([[5.0, 0.01 * (4 - 2), 0.01 * (-1 - 0.5)], [11.0, 0.01 * (0 - 2), 0.01 * (2 - 0.5)]])
    assert torch.allclose(z.grad, expected)


def test_swap_takes_inactive_latents_from_another_image_with_their_gradient():
    z = torch.tensor([[1.0, 4.0, -1.0], [3.0, 0.0, 2.0], [5.0, 6.0, 7.0]], requires_grad=True)
    active = torch.tensor([True, False, False])
    out = swap_latents(z, active, shift=1)
    # image i decodes its own column 0 and image i+1's (cyclically) columns 1-2
    assert torch.equal(out.detach(), torch.tensor([[1.0, 0.0, 2.0], [3.0, 6.0, 7.0], [5.0, 4.0, -1.0]]))
    upstream = torch.arange(9.0).reshape(3, 3)
    (out * upstream).sum().backward()
    # each inactive latent gets the gradient of the image that decoded it: z[j] from row j-1
    assert torch.equal(z.grad, torch.tensor([[0.0, 7.0, 8.0], [3.0, 1.0, 2.0], [6.0, 4.0, 5.0]]))


def test_swap_clamped_forward_never_decodes_an_image_from_its_own_inactive_latents():
    torch.manual_seed(0)
    model = DCIGN(IGNConfig(image_size=32, n_latent=8))
    x = torch.rand(5, 1, 32, 32)
    active = active_mask("elevation", model.config)
    shifts = set()
    for seed in range(20):
        _, mu, logvar, z = model(x, active, generator=torch.Generator().manual_seed(seed), clamp="swap")
        own = mu + torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed)) * torch.exp(0.5 * logvar)
        assert torch.equal(z[:, 1], own[:, 1])
        shift = next(s for s in range(5) if torch.equal(z[:, ~active], own.roll(-s, 0)[:, ~active]))
        shifts.add(shift)
    assert shifts == {1, 2, 3, 4}  # every other image, never the image itself
    with pytest.raises(IGNError, match="clamp 'median'"):
        model(x, active, clamp="median")
    with pytest.raises(IGNError, match="--clamp"):
        TrainConfig(baseline=True, clamp="swap")


def test_active_masks_follow_the_graphics_code_layout():
    c = IGNConfig()
    assert active_mask("azimuth", c).nonzero().ravel().tolist() == [0]
    assert active_mask("light", c).nonzero().ravel().tolist() == [2]
    assert active_mask("identity", c).nonzero().ravel().tolist() == list(range(3, c.n_latent))
    with pytest.raises(IGNError, match="not one of"):
        active_mask("zoom", c)


def test_clamped_forward_decodes_one_varying_latent():
    torch.manual_seed(0)
    model = DCIGN(IGNConfig(image_size=32, n_latent=8))
    x = torch.rand(5, 1, 32, 32)
    logits, mu, logvar, z = model(x, active_mask("elevation", model.config))
    assert logits.shape == (5, 1, 32, 32)
    spread = z.std(0)
    assert spread[1] > 0 and torch.all(spread[[0, 2, 3, 4, 5, 6, 7]] < 1e-6)


def test_paper_configuration_matches_the_original_network():
    model = DCIGN(IGNConfig.paper())
    # the note: about 4.1M parameters; 24 x 15 x 15 = 5400 features before the latent heads
    assert 4.0e6 < n_parameters(model) < 4.2e6
    assert model.to_mu.in_features == 5400 and model.to_mu.out_features == 200
    with torch.no_grad():
        assert model.decode(torch.zeros(1, 200)).shape == (1, 1, 150, 150)


def test_bad_image_size_is_explained():
    with pytest.raises(IGNError, match="image_size 60"):
        IGNConfig(image_size=60)


def test_sgvb_loss_matches_hand_computation():
    logits = torch.zeros(1, 1, 1, 2)  # p = 0.5 -> BCE = log 2 per pixel
    x = torch.tensor([[[[0.0, 1.0]]]])
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, np.log(2.0)]])
    total, recon, kl = sgvb_loss(logits, x, mu, logvar)
    assert recon.item() == pytest.approx(2 * np.log(2))
    assert kl.item() == pytest.approx(0.5 * (1 + 0) + 0.5 * (2 - 1 - np.log(2)))
    assert total.item() == pytest.approx(recon.item() + kl.item())
    # Gaussian: the decoder output is the mean itself (std 0.1): 0.5 * (0.25 + 0.25) / 0.01
    out = torch.tensor([[[[0.5, 0.5]]]])
    assert sgvb_loss(out, x, mu, logvar, "gaussian")[1].item() == pytest.approx(25.0)


def _toy_batches(seed=0, size=16):
    rng = np.random.default_rng(seed)
    images = (rng.random((8, 4, size, size)) * 255).astype(np.uint8)
    factors = rng.uniform(-1, 1, (8, 4, 4)).astype(np.float32)
    return BatchSet(images, factors, np.array([0, 1, 2, 3, 3, 3, 3, 3]))


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    batches, config = _toy_batches(), IGNConfig(image_size=16, n_latent=6)
    torch.manual_seed(1)
    straight = train(DCIGN(config), batches, TrainConfig(steps=6, checkpoint_every=100), tmp_path / "a", progress=False)
    torch.manual_seed(1)
    part = DCIGN(config)
    train(part, batches, TrainConfig(steps=3, checkpoint_every=100), tmp_path / "b", progress=False)
    torch.manual_seed(99)  # a fresh process: different initial weights, restored from the checkpoint
    resumed = train(DCIGN(config), batches, TrainConfig(steps=6, checkpoint_every=100), tmp_path / "b", progress=False)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(p, q, atol=1e-6)
    rows = (tmp_path / "b" / "log.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4", "5", "6"]
    loaded, meta = load_checkpoint(tmp_path / "b" / "checkpoint.safetensors")
    assert meta["step"] == 6 and set(meta["calibration"]) == {"azimuth", "elevation", "light"}
    assert torch.equal(loaded.to_mu.weight, resumed.to_mu.weight)


def _assert_schedule_is_a_resumed_constant_run(tmp_path, schedule: str, steps: int, switch: int, lr_after: float):
    """Training `steps` with `schedule` from lr 5e-4 gives the weights of `switch` constant steps at
    5e-4 resumed at `lr_after` up to `steps`: the rates training applies are the schedule's."""
    batches, config = _toy_batches(), IGNConfig(image_size=16, n_latent=6)
    torch.manual_seed(1)
    scheduled = train(DCIGN(config), batches, TrainConfig(steps=steps, lr=5e-4, lr_schedule=schedule),
                      tmp_path / "scheduled", progress=False)
    torch.manual_seed(1)
    train(DCIGN(config), batches, TrainConfig(steps=switch, lr=5e-4), tmp_path / "by_hand", progress=False)
    by_hand = train(DCIGN(config), batches, TrainConfig(steps=steps, lr=lr_after), tmp_path / "by_hand",
                    progress=False)
    for p, q in zip(scheduled.parameters(), by_hand.parameters()):
        assert torch.allclose(p, q, atol=1e-7)


def test_cosine_schedule_halves_the_rate_midway_and_is_what_training_applies(tmp_path):
    cosine = TrainConfig(steps=1000, lr=5e-4, lr_schedule="cosine")
    assert cosine.lr_at(0) == 5e-4 and abs(cosine.lr_at(500) - 2.5e-4) < 1e-12 and cosine.lr_at(999) < 1e-8
    assert TrainConfig(steps=1000).lr_at(999) == 5e-4
    # two cosine steps take the rates lr and lr/2: the same as one constant step at lr, resumed at lr/2
    _assert_schedule_is_a_resumed_constant_run(tmp_path, "cosine", steps=2, switch=1, lr_after=2.5e-4)
    with pytest.raises(IGNError, match="cosine"):
        TrainConfig(lr_schedule="linear")


def test_drop_schedule_is_a_constant_run_resumed_at_a_third_of_the_rate(tmp_path):
    drop = TrainConfig(steps=18000, lr=5e-4, lr_schedule="drop")
    assert drop.lr_at(14999) == 5e-4 and abs(drop.lr_at(15000) - 1.5e-4) < 1e-12
    assert drop.lr_at(17999) == drop.lr_at(15000)
    _assert_schedule_is_a_resumed_constant_run(tmp_path, "drop", steps=6, switch=5, lr_after=1.5e-4)


def test_mirror_consistency_negates_azimuth_and_light_and_ignores_the_intrinsic_block():
    mu = torch.tensor([[1.0, 2.0, 3.0, 9.0]])
    assert mirror_consistency(mu, torch.tensor([[-1.0, 2.0, -3.0, 5.0]]), 3).item() == 0.0
    assert mirror_consistency(mu, torch.tensor([[0.0, 2.0, -3.0, 5.0]]), 3).item() == 1.0
    assert mirror_consistency(mu, torch.tensor([[-1.0, 0.0, -1.0, 9.0]]), 3).item() == 8.0
    with pytest.raises(IGNError, match="mirror-consistency"):
        TrainConfig(baseline=True, mirror_weight=1.0)


def _loss_added_per_image(model: DCIGN, x: torch.Tensor, kind: str, **weight) -> tuple[float, float]:
    """(what TrainConfig(**weight) adds to train_step's per-image loss on x, the loss without it);
    no weights change (lr 0)."""
    rows = [train_step(copy.deepcopy(model), torch.optim.Adam(model.parameters(), lr=0), x, kind, cfg,
                       torch.Generator().manual_seed(0)) for cfg in (TrainConfig(), TrainConfig(**weight))]
    return rows[1]["loss"] - rows[0]["loss"], rows[0]["loss"]


def _toy_models_trained_with(tmp_path, option: str, values: tuple[float, ...], **cfg) -> dict[float, DCIGN]:
    """{value: a toy DC-IGN trained 40 steps with TrainConfig option=value}, all from the same start."""
    batches, config = _toy_batches(), IGNConfig(image_size=16, n_latent=6)
    models = {}
    for value in values:
        torch.manual_seed(0)
        models[value] = train(DCIGN(config), batches, TrainConfig(steps=40, **{option: value}, **cfg),
                              tmp_path / f"{option}={value}", progress=False)
    return models


def test_mirror_weight_adds_its_term_to_the_loss_and_training_lowers_it(tmp_path):
    batches, config = _toy_batches(), IGNConfig(image_size=16, n_latent=6)
    torch.manual_seed(0)
    model = DCIGN(config)
    x = to_tensor(batches.images[0])
    with torch.no_grad():
        penalty = mirror_consistency(model.encode(x)[0], model.encode(x.flip(-1))[0], 3).item()
    added, loss = _loss_added_per_image(model, x, "azimuth", mirror_weight=2.0)
    assert abs(added - 2.0 * penalty / len(x)) < 1e-3 * loss
    # mirror_images k: only the k images of mirror_subset are flipped, and their sum is scaled by B / k
    k = 2
    idx = mirror_subset(0, len(x), k)  # the step's noise seed is 0 in _loss_added_per_image
    with torch.no_grad():
        some = mirror_consistency(model.encode(x[idx])[0], model.encode(x[idx].flip(-1))[0], 3).item()
    assert abs(some - penalty) > 0.1 * penalty  # the check below tells the two apart
    added, loss = _loss_added_per_image(model, x, "azimuth", mirror_weight=2.0, mirror_images=k)
    assert abs(added - 2.0 * some / k) < 1e-3 * loss
    with pytest.raises(IGNError, match="--mirror-images"):
        TrainConfig(mirror_weight=1.0, mirror_images=0)
    with pytest.raises(IGNError, match="--mirror-consistency WEIGHT too"):
        TrainConfig(mirror_images=10)

    def consistency(trained):
        images = to_tensor(batches.images)
        with torch.no_grad():
            return mirror_consistency(trained.encode(images)[0], trained.encode(images.flip(-1))[0], 3).item()

    runs = _toy_models_trained_with(tmp_path, "mirror_weight", (0.0, 10.0))
    assert consistency(runs[10.0]) < 0.5 * consistency(runs[0.0])  # measured: 0.23 x


def test_mirror_subsets_are_random_and_repeatable():
    """A user's batches may be sorted by their factor: the flipped images must not always be the first."""
    subsets = [mirror_subset(seed, 20, 10) for seed in range(200)]
    assert all(len(set(s.tolist())) == 10 and s.max() < 20 for s in subsets)
    assert torch.equal(mirror_subset(7, 20, 10), subsets[7])
    counts = torch.bincount(torch.cat(subsets), minlength=20).float()
    assert counts.min() > 60 and counts.max() < 140  # each image in about half of them (100 of 200)
    assert torch.equal(mirror_subset(3, 20, 20), torch.arange(20))


class _Clock:
    """A stand-in for time.perf_counter whose steps last `seconds[threads]`."""

    def __init__(self, seconds: dict[int, float]):
        self.seconds, self.now = seconds, 0.0

    def __call__(self) -> float:
        return self.now

    def run(self, picker: ThreadPicker, i: int) -> None:
        picker.before(i)
        self.now += self.seconds[picker.count_at(i)]
        picker.after(i)


@pytest.mark.parametrize("seconds, faster", [({1: 0.08, 2: 0.05}, 2), ({1: 0.08, 2: 0.2}, 1)])
def test_thread_picker_times_both_counts_and_keeps_the_faster(seconds, faster):
    threads = torch.get_num_threads()
    clock = _Clock(seconds)
    picker = ThreadPicker(2, window=5, every=100, clock=clock)
    try:
        assert [picker.count_at(i) for i in (0, 4, 5, 9)] == [2, 2, 1, 1]  # probe windows
        for i in range(10):
            clock.run(picker, i)
        assert picker.chosen == faster and picker.count_at(10) == picker.count_at(99) == faster
        assert picker.count_at(100) == 2 and picker.count_at(105) == 1  # probed again later
        # the machine gets busy: two threads slow down, and the next probe moves to one
        clock.seconds = {1: 0.08, 2: 0.3}
        for i in range(100, 110):
            clock.run(picker, i)
        assert picker.chosen == 1
    finally:
        torch.set_num_threads(threads)
    assert ThreadPicker(1).count_at(0) == 1


def test_a_time_budget_ends_the_run_and_stretches_the_schedule(tmp_path, monkeypatch):
    drop = TrainConfig(steps=UNTIL_BUDGET, minutes=1.0, lr_schedule="drop", lr=5e-4)
    assert drop.lr_at_progress(0.8) == 5e-4 and drop.lr_at_progress(0.84) == pytest.approx(1.5e-4)
    assert TrainConfig(lr_schedule="cosine").lr_at_progress(0.5) == pytest.approx(2.5e-4)
    with pytest.raises(IGNError, match="--minutes"):
        TrainConfig(minutes=0)
    # each step takes 1.5 "seconds" of a fake clock: a 0.1-minute budget (6 s) ends the run after 4 steps
    clock = {"now": 0.0}

    def slow_step(*args, **kwargs):
        clock["now"] += 1.5
        log = (tmp_path / "run" / "log.csv").read_text().strip().splitlines()
        seen.append(len(log) - 1)  # rows written so far: every earlier step's, flushed
        return train_step(*args, **kwargs)

    seen = []
    monkeypatch.setattr("invgfx.ign.train.train_step", slow_step)
    monkeypatch.setattr("invgfx.ign.train.time.perf_counter", lambda: clock["now"])
    cfg = TrainConfig(steps=UNTIL_BUDGET, minutes=0.1)
    train(DCIGN(IGNConfig(image_size=16, n_latent=6)), _toy_batches(), cfg, tmp_path / "run", progress=False)
    assert seen == [0, 1, 2, 3]
    meta = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")[1]
    assert meta["step"] == 4 and meta["train_seconds"] == pytest.approx(6.0)
    # the same command again resumes with no time left: nothing more is trained
    train(DCIGN(IGNConfig(image_size=16, n_latent=6)), _toy_batches(), cfg, tmp_path / "run", progress=False)
    assert seen == [0, 1, 2, 3]


def test_recipes_fill_what_the_user_did_not_give():
    kernel, fields = recipe("default")
    assert kernel == 3 and fields["clamp"] == "swap" and fields["steps"] == 13000 and fields["minutes"] is None
    kernel, fields = recipe("default", lr=1e-3, ratio=None)
    assert fields["lr"] == 1e-3 and fields["ratio"] == (1, 2, 1.5, 3)
    # a baseline keeps the network and rates, and drops what needs named latents
    kernel, fields = recipe("default", baseline=True)
    assert kernel == 3 and fields["lr"] == 8e-4 and fields["clamp"] == "mean" and fields["invariance_weight"] == 0
    TrainConfig(**fields, baseline=True)
    TrainConfig(**recipe("default", mirror_weight=0.0)[1])  # its mirror subset goes with the term
    assert recipe("default", minutes=15)[1]["steps"] == UNTIL_BUDGET
    assert recipe("default", minutes=15, steps=500)[1]["steps"] == 500
    assert recipe("paper")[1] == {**{f: getattr(TrainConfig(), f) for f in recipe("paper")[1]}}
    with pytest.raises(IGNError, match="--recipe"):
        recipe("chairs")


def test_spread_consistency_measures_the_batch_spread_against_the_prior_scale():
    unit = torch.tensor([-1.0, 0.0, 1.0])  # std (unbiased) exactly 1
    assert spread_consistency(unit).item() == 0.0
    assert spread_consistency(3 * unit + 5).item() == pytest.approx(3 * (3 - 1) ** 2)  # location-free
    assert spread_consistency(torch.zeros(4)).item() == 4.0
    with pytest.raises(IGNError, match="at least 2 images"):
        spread_consistency(torch.zeros(1))
    with pytest.raises(IGNError, match="spread-consistency"):
        TrainConfig(baseline=True, spread_weight=1.0)


def test_uniform_spread_is_the_distance_of_the_sorted_batch_to_uniform_order_statistics():
    q = uniform_order_statistics(20)
    assert q.mean().item() == pytest.approx(0, abs=1e-12)
    assert q[-1].item() == pytest.approx(3 ** 0.5 * 19 / 21)
    shuffled = q[torch.randperm(20, generator=torch.Generator().manual_seed(0))]
    assert spread_consistency(shuffled + 4, "uniform").item() == pytest.approx(0, abs=1e-12)  # order- and location-free
    assert spread_consistency(-shuffled, "uniform").item() == pytest.approx(0, abs=1e-12)  # either sign
    assert spread_consistency(2 * q, "uniform").item() == pytest.approx((q**2).sum().item())  # (2 - 1)^2 sum q^2
    with pytest.raises(IGNError, match="use one of std, uniform"):
        spread_consistency(q, "gaussian")
    with pytest.raises(IGNError, match="--spread-shape"):
        TrainConfig(spread_shape="gaussian")


@pytest.mark.parametrize("shape, straightens", [("uniform", True), ("std", False)])
def test_uniform_spread_straightens_a_saturating_code_and_std_does_not(shape, straightens):
    """A monotone code of a factor drawn uniformly in batches of 20 (piecewise linear over 9 knots),
    started as tanh(5 x) (which saturates: R^2 0.89 against the factor), trained on the term alone."""
    knots = torch.linspace(-1, 1, 9, dtype=torch.float64)
    values = torch.tanh(5 * knots).requires_grad_()
    opt = torch.optim.Adam([values], lr=0.02)
    g = torch.Generator().manual_seed(0)

    def code(x):  # linear interpolation between the knots' values
        i = ((x + 1) * 4).floor().clamp(0, 7).long()
        w = (x + 1) * 4 - i
        return values[i] * (1 - w) + values[i + 1] * w

    def r2():
        x = torch.linspace(-1, 1, 401, dtype=torch.float64)
        return (torch.corrcoef(torch.stack([code(x).detach(), x]))[0, 1] ** 2).item()

    start = r2()
    for _ in range(300):
        draws = torch.rand(8, 20, generator=g, dtype=torch.float64) * 2 - 1
        loss = sum(spread_consistency(code(x), shape) for x in draws)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert start < 0.9, start
    if straightens:
        assert r2() > 0.995  # measured: 0.9996
    else:
        assert r2() < 0.95  # measured: 0.81; the std only sets the scale


def test_spread_weight_acts_in_pose_and_light_batches_only_and_training_evens_the_spread(tmp_path):
    batches, config = _toy_batches(), IGNConfig(image_size=16, n_latent=6)
    torch.manual_seed(0)
    model = DCIGN(config)
    x = to_tensor(batches.images[0])
    with torch.no_grad():
        penalty = spread_consistency(model.encode(x)[0][:, 1]).item()
    added, loss = _loss_added_per_image(model, x, "elevation", spread_weight=2.0)
    assert abs(added - 2.0 * penalty / len(x)) < 1e-4 * loss
    added, loss = _loss_added_per_image(model, x, "identity", spread_weight=2.0)
    assert abs(added) < 1e-4 * loss
    with torch.no_grad():
        penalty = spread_consistency(model.encode(x)[0][:, 1], "uniform").item()
    added, loss = _loss_added_per_image(model, x, "elevation", spread_weight=2.0, spread_shape="uniform")
    assert abs(added - 2.0 * penalty / len(x)) < 1e-4 * loss

    def spread_error(trained):
        """Mean over the pose/light batches of (std of the varied latent - 1)^2."""
        with torch.no_grad():
            return np.mean([(trained.encode(to_tensor(images))[0][:, kind]
                             .std().item() - 1) ** 2 for images, kind in zip(batches.images, batches.kinds) if kind < 3])

    runs = _toy_models_trained_with(tmp_path, "spread_weight", (0.0, 50.0), ratio=(1, 1, 1, 1))
    assert spread_error(runs[50.0]) < 0.5 * spread_error(runs[0.0])  # measured: 0.22 x


def test_invariance_consistency_measures_the_held_pose_and_light_latents_only():
    # columns: azimuth, elevation, light, two intrinsic
    mu = torch.tensor([[0.0, 1.0, 5.0, 7.0, 0.0],
                       [9.0, 3.0, 5.0, -7.0, 1.0]])
    azimuth = active_mask("azimuth", IGNConfig(n_latent=5))
    assert invariance_consistency(mu, azimuth, 3).item() == 2.0  # elevation 1, 3 about 2; light constant
    identity = active_mask("identity", IGNConfig(n_latent=5))
    assert invariance_consistency(mu, identity, 3).item() == 2 * 4.5**2 + 2.0
    assert invariance_consistency(mu[:, [0, 2, 1, 3, 4]], active_mask("light", IGNConfig(n_latent=5)), 3).item() == 2 * 4.5**2
    with pytest.raises(IGNError, match="invariance-consistency"):
        TrainConfig(baseline=True, invariance_weight=1.0)


def test_invariance_weight_adds_its_term_and_training_lowers_it(tmp_path):
    batches, config = _toy_batches(), IGNConfig(image_size=16, n_latent=6)
    torch.manual_seed(0)
    model = DCIGN(config)
    x = to_tensor(batches.images[0])
    for kind in ("azimuth", "identity"):
        with torch.no_grad():
            penalty = invariance_consistency(model.encode(x)[0], active_mask(kind, config), 3).item()
        added, loss = _loss_added_per_image(model, x, kind, invariance_weight=2.0)
        assert abs(added - 2.0 * penalty / len(x)) < 1e-4 * loss

    def held_variation(trained):
        """Sum over the stored batches of the term."""
        with torch.no_grad():
            return sum(invariance_consistency(trained.encode(to_tensor(images))[0], active_mask(FACTORS[kind], config),
                                              3).item()
                       for images, kind in zip(batches.images, batches.kinds))

    runs = _toy_models_trained_with(tmp_path, "invariance_weight", (0.0, 50.0), ratio=(1, 1, 1, 1))
    assert held_variation(runs[50.0]) < 0.3 * held_variation(runs[0.0])  # measured: 0.033 x


def test_mirror_flips_whole_batches_for_dc_ign_and_single_images_for_the_baseline():
    batches = _toy_batches()
    stored = batches.images.reshape(-1, *batches.images.shape[2:])
    flipped_batches = 0
    for step in range(40):
        plain, kind = draw_batch(batches, TrainConfig(), step)
        images, same_kind = draw_batch(batches, TrainConfig(mirror=True), step)
        assert kind == same_kind  # the same stored batch is drawn, with or without mirroring
        if not np.array_equal(images, plain):
            assert np.array_equal(images, plain[..., ::-1])  # every image of the batch, so one factor still varies
            flipped_batches += 1
        for image in draw_batch(batches, TrainConfig(baseline=True, mirror=True), step)[0]:
            assert any(np.array_equal(image, s) or np.array_equal(image[:, ::-1], s) for s in stored)
    assert 10 <= flipped_batches <= 30  # about half
    flips = [not any(np.array_equal(image, s) for s in stored)
             for step in range(10) for image in draw_batch(batches, TrainConfig(baseline=True, mirror=True), step)[0]]
    assert 0.25 < np.mean(flips) < 0.75  # the baseline flips image by image


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_training_learns_a_bright_object_on_black(tmp_path, likelihood):
    """A grey square on a black background (like the renders): both likelihoods must learn it.
    (A Gaussian mean through a sigmoid saturated at black and never recovered.)"""
    images = np.zeros((4, 4, 16, 16), dtype=np.uint8)
    images[:, :, 6:10, 6:10] = 150
    batches = BatchSet(images, np.zeros((4, 4, 4), np.float32), np.array([0, 1, 2, 3]))
    torch.manual_seed(0)
    model = train(DCIGN(IGNConfig(image_size=16, n_latent=6, likelihood=likelihood)), batches,
                  TrainConfig(steps=80, lr=2e-3, checkpoint_every=1000), tmp_path, progress=False)
    losses = [float(r.split(",")[2]) for r in (tmp_path / "log.csv").read_text().strip().splitlines()[1:]]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    x = torch.tensor(images[0]).float().div(255)[:, None]
    with torch.no_grad():
        image = model.eval().decode(model.encode(x)[0])
    assert (image - x)[:, :, 6:10, 6:10].abs().max() < 0.1 and image.min() >= 0 and image.max() <= 1


def test_kl_weight_scales_only_the_kl_term_of_the_gradient():
    """A step with kl_weight w moves the weights by the gradient of recon + w * KL (SGD, lr 1)."""
    config, w = IGNConfig(image_size=16, n_latent=6), 0.25
    x = torch.tensor(_toy_batches().images[3]).float().div(255)[:, None]
    torch.manual_seed(0)
    model = DCIGN(config)
    before = [p.detach().clone() for p in model.parameters()]
    row = train_step(model, torch.optim.SGD(model.parameters(), lr=1.0), x, "identity", TrainConfig(kl_weight=w),
                     torch.Generator().manual_seed(3))
    steps = [b - p.detach() for b, p in zip(before, model.parameters())]
    with torch.no_grad():
        for p, b in zip(model.parameters(), before):
            p.copy_(b)
    logits, mu, logvar, _ = model(x, active_mask("identity", config), 0.01, torch.Generator().manual_seed(3))
    _, recon, kl = sgvb_loss(logits, x, mu, logvar)
    expected = torch.autograd.grad(recon + w * kl, list(model.parameters()))
    assert row["loss"] == pytest.approx((recon.item() + w * kl.item()) / len(x), rel=1e-5)
    assert kl.item() > 1e-3  # the KL term is present, so its weight is tested
    for got, want in zip(steps, expected):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


def test_missing_checkpoint_is_explained(tmp_path):
    with pytest.raises(IGNError, match="no such file"):
        load_checkpoint(tmp_path / "nope.safetensors")
