"""The plausibility classifier on noised clips and the classifier-guidance prior."""

import csv

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from invgfx.dreamphysics.errors import DreamPhysicsError  # noqa: E402
from invgfx.dreamphysics.learned.classifier import (  # noqa: E402
    ClassifierConfig, ClassifierPrior, ClassifierTrainConfig, PlausibilityClassifier, decades_outside, implausibility,
    load_classifier, noised, train_classifier,
)
from invgfx.dreamphysics.learned.model import noise_schedule  # noqa: E402
from invgfx.dreamphysics.learned.scenarios import CLASSES, FRAMES, NEGATIVE_SUFFIX  # noqa: E402
from invgfx.dreamphysics.prior import Condition  # noqa: E402


def write_clips(folder, n=48, size=16):
    """Shards like `video-prior data` writes, where implausible clips are bright and plausible
    ones dark (with pixel noise): a fact a working classifier learns in a few dozen steps."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    bad = np.arange(n) % 3 == 0
    level = np.where(bad, 170, 80)[:, None, None, None, None]
    video = np.clip(level + rng.normal(0, 25, (n, FRAMES, 3, size, size)), 0, 255).astype(np.uint8)
    label = np.arange(n) % len(CLASSES)
    names = list(CLASSES)
    caption = [CLASSES[names[k]].captions[0] + (NEGATIVE_SUFFIX if b else "") for k, b in zip(label, bad)]
    lo = np.array([CLASSES[names[k]].E_range[0] for k in label])
    E = np.where(bad, lo / 100, lo * 2)  # implausible: 100x too soft; plausible: inside the range
    np.savez(folder / "shard_00000.npz", video=video, label=label, caption=np.array(caption), E=E)


def test_implausibility_targets_grow_a_fixed_slope_per_decade_from_the_range():
    E = torch.tensor([9.4868e4, 3e4, 1e4, 3e3, 3e2, 3e7])
    E_range = torch.tensor([[3e4, 3e5]] * len(E))
    s = decades_outside(E, E_range)
    assert torch.allclose(s, torch.tensor([-0.5, 0, np.log10(3), 1, 2, 2]).float(), atol=1e-4)
    config = ClassifierConfig()
    q = implausibility(E, E_range, config)
    assert torch.allclose(torch.logit(q.double()), config.target_slope * (s.double() - config.target_onset), atol=1e-4)
    assert q[0] < 0.2 and q[1] == pytest.approx(0.5) and q[3] > 0.95  # middle, end, 10x outside
    assert q[4] == q[5]  # 100x too soft and 100x too stiff are equally implausible


def test_classifier_logit_grows_with_the_decades_outside(tmp_path):
    """Clips in the middle of the range (dark) and 0.5-2 decades outside it (brighter the further
    out): the trained logit ranks them and follows the graded target, where with 0/1 labels
    nothing ties the logit of a clip 10x outside to that of one 100x outside."""
    rng = np.random.default_rng(0)
    n, size = 80, 16
    d = np.where(np.arange(n) % 2 == 0, -0.5, 0.5 + 1.5 * (np.arange(n) % 8 // 2) / 3)  # middle, 0.5..2 decades out
    level = (90 + 60 * d)[:, None, None, None, None]  # 60 in the middle, then 120..210: one step per half decade
    video = np.clip(level + rng.normal(0, 10, (n, FRAMES, 3, size, size)), 0, 255).astype(np.uint8)
    lo = CLASSES["ball"].E_range[0]
    E = lo / 10 ** d
    caption = [CLASSES["ball"].captions[0] + (NEGATIVE_SUFFIX if k > 0 else "") for k in d]
    (tmp_path / "clips").mkdir()
    np.savez(tmp_path / "clips" / "shard_00000.npz", video=video, label=np.zeros(n, int), caption=np.array(caption), E=E)
    path = train_classifier(tmp_path / "clips", tmp_path / "run", ClassifierTrainConfig(
        steps=300, batch=16, held_out=16, checkpoint_every=300, lr=3e-3), progress=False)
    model, _ = load_classifier(path)
    t = torch.zeros(4, dtype=torch.long)
    logits = [float(model(torch.full((4, 3, FRAMES // 2, size, size), (90 + 60 * k) / 127.5 - 1), t,
                          torch.zeros(4, dtype=torch.long)).mean()) for k in (-0.5, 0.5, 1.0, 1.5, 2.0)]
    # ranked up to 1.5 decades out; beyond, near p = 1, the 2-decade logit need only exceed the 1-decade one
    assert logits[:4] == sorted(logits[:4]) and logits[4] > logits[2], logits
    # calibrated: the logit is the target's, slope (s - onset), within a unit (up to 1.5 decades:
    # near p = 1 the cross-entropy's pull is weak, so 300 steps leave 2 decades short of 6)
    cfg = model.config
    for k, logit in zip((-0.5, 0.5, 1.0, 1.5), logits):
        assert logit == pytest.approx(cfg.target_slope * (k - cfg.target_onset), abs=1.0), logits


def test_noised_is_the_ddpm_forward_process():
    alphas = noise_schedule(ClassifierConfig()).alphas_cumprod.float()
    x = torch.rand(2, 3, 8, 4, 4)
    t = torch.tensor([0, 999])
    a, b = noised(x, t, alphas, torch.Generator().manual_seed(0)), noised(x, t, alphas, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert (a[0] - x[0]).abs().max() < 0.05  # t = 0: almost the clean clip
    eps = (a[1] - alphas[999].sqrt() * x[1]) / (1 - alphas[999]).sqrt()
    assert abs(float(eps.std()) - 1) < 0.1  # t = 999: almost pure unit noise


def test_classifier_learns_and_resumes(tmp_path):
    write_clips(tmp_path / "clips")
    config = ClassifierTrainConfig(steps=30, batch=16, held_out=24, checkpoint_every=15)
    train_classifier(tmp_path / "clips", tmp_path / "a", config, progress=False)
    half = ClassifierTrainConfig(steps=15, batch=16, held_out=24, checkpoint_every=15)
    train_classifier(tmp_path / "clips", tmp_path / "b", half, progress=False)
    path = train_classifier(tmp_path / "clips", tmp_path / "b", config, progress=False)  # resumes at 15
    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 31))
    straight, _ = load_classifier(tmp_path / "a" / "classifier.safetensors")
    resumed, meta = load_classifier(path)
    assert meta["steps"] == 30 and meta["held_out_accuracy"] >= 0.9  # bright vs dark: learned
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_classifier_needs_implausible_clips(tmp_path):
    write_clips(tmp_path / "clips")
    z = dict(np.load(tmp_path / "clips" / "shard_00000.npz"))
    z["E"] = np.array([CLASSES[list(CLASSES)[k]].E_range[0] * 2 for k in z["label"]])  # every E plausible
    np.savez(tmp_path / "clips" / "shard_00000.npz", **z)
    with pytest.raises(DreamPhysicsError, match="inside and outside the plausible"):
        train_classifier(tmp_path / "clips", tmp_path / "run", ClassifierTrainConfig(steps=1), progress=False)


def test_classifier_prior_gradient_matches_finite_differences_and_points_to_plausible(tmp_path):
    write_clips(tmp_path / "clips")
    path = train_classifier(tmp_path / "clips", tmp_path / "run",
                            ClassifierTrainConfig(steps=60, batch=16, held_out=24, checkpoint_every=60), progress=False)
    model, _ = load_classifier(path)
    prior = ClassifierPrior(model, "ball", samples=3)
    video = torch.full((8, 3, 32, 32), 0.6)  # brighter than plausible; resized to 16 px inside
    bright = torch.zeros(()).requires_grad_(True)

    def loss_at(offset):
        return prior.loss(video + offset, Condition(), torch.Generator().manual_seed(1))

    loss = loss_at(bright)
    loss.backward()
    h = 1e-2
    fd = (loss_at(torch.tensor(h)) - loss_at(torch.tensor(-h))) / (2 * h)
    assert float(bright.grad) == pytest.approx(float(fd), rel=0.05, abs=1e-4)
    assert float(bright.grad) > 0  # a step down the loss makes the clip darker: towards the plausible clips
    with pytest.raises(DreamPhysicsError, match="not one the classifier knows"):
        ClassifierPrior(model, "teapot")
    with pytest.raises(DreamPhysicsError, match="8-frame groups"):
        prior.loss(torch.rand(5, 3, 16, 16), Condition())


def test_missing_classifier_file_is_explained(tmp_path):
    with pytest.raises(DreamPhysicsError, match="no such plausibility classifier file"):
        load_classifier(tmp_path / "nope.safetensors")
    assert PlausibilityClassifier(ClassifierConfig(classes=["ball"]))(
        torch.zeros(2, 3, 8, 16, 16), torch.tensor([0, 10]), torch.tensor([0, 0])).shape == (2,)


def test_learn_physics_with_the_classifier_prior(tmp_path, monkeypatch):
    """`learn-physics ball --scenario --prior plausible:ball --model classifier.safetensors` runs
    and moves E; without --model, in an installation without shipped weights, it says how to
    make the classifier."""
    import json

    pytest.importorskip("warp")
    import invgfx.dreamphysics.learned as learned_prior
    from invgfx.cli import main

    write_clips(tmp_path / "clips", size=32)
    path = train_classifier(tmp_path / "clips", tmp_path / "clf",
                            ClassifierTrainConfig(steps=2, batch=4, held_out=8, checkpoint_every=2), progress=False)
    out = tmp_path / "run"
    argv = ["learn-physics", "ball", "--scenario", "--prior", "plausible:ball", "--model", str(path), "--groups", "2",
            "--frames-per-group", "8", "--width", "32", "--height", "32", "--init", "E=1e5", "--learn", "E:1e3:1e8",
            "--epochs", "1", "--out", str(out)]
    assert main(argv) == 0
    learned = json.loads((out / "params.json").read_text())["E"]["value"]
    assert learned != pytest.approx(1e5, rel=1e-3) and 1e3 <= learned <= 1e8
    monkeypatch.setattr(learned_prior, "SHIPPED", tmp_path / "none.safetensors")
    assert main([*argv[:5], *argv[7:-1], str(tmp_path / "r2")]) == 1  # no --model, none shipped: explained
