"""The learned video prior: scenarios, clips, model, SDS gradient, training with resume, the
shipped weights, and `learn-physics` using it by default."""

import csv
import json
import math

import pytest
import torch

pytest.importorskip("warp")
pytest.importorskip("diffusers")

from invgfx.dreamphysics.errors import DreamPhysicsError  # noqa: E402
from invgfx.dreamphysics.learned import SHIPPED, SHIPPED_DENOISER, default_prior, demo_scene  # noqa: E402
from invgfx.dreamphysics.learned.model import (  # noqa: E402
    LearnedVideoPrior, PriorConfig, VideoDenoiser, _shuffle, _unshuffle, load_denoiser, noise_schedule, save_denoiser,
    vocabulary_of,
)
from invgfx.dreamphysics.learned.scenarios import CLASSES, IMPLAUSIBLE, NEGATIVE_SUFFIX, scenario  # noqa: E402
from invgfx.dreamphysics.prior import Condition  # noqa: E402


def tiny_model(seed=0, size=16):
    torch.manual_seed(seed)
    captions = [c + suffix for cls in CLASSES.values() for c in cls.captions for suffix in ("", NEGATIVE_SUFFIX)]
    return VideoDenoiser(PriorConfig(size=size, frames=8, channels=(8, 16), text_dim=16,
                                     vocabulary=vocabulary_of(captions), classes=list(CLASSES))).eval()


def test_scenarios_are_seeded_and_draw_E_from_the_plausible_range():
    for name, cls in CLASSES.items():
        a, b, c = scenario(name, 3), scenario(name, 3), scenario(name, 4)
        assert a.params == b.params and torch.equal(a.cloud.means, b.cloud.means)
        assert a.params != c.params
        assert cls.inside(a.E) and cls.inside(c.E)
        assert a.caption in cls.captions
        sides = set()
        for seed in range(20):
            bad = scenario(name, seed, implausible=True)
            lo, hi = cls.E_range
            factor = max(lo / bad.E, bad.E / hi)
            assert IMPLAUSIBLE[0] <= factor <= IMPLAUSIBLE[1] and bad.caption.endswith(NEGATIVE_SUFFIX)
            sides.add(bad.E < lo)
        assert sides == {True, False}  # too soft and too stiff both occur
    assert scenario("ball", 0, E=123.0).E == 123.0
    _, config = demo_scene("plant")
    assert config.E == pytest.approx(math.sqrt(1e6 * 1e7))  # the range's geometric mean


def test_plant_range_is_where_the_plant_sways_and_swings_back():
    """The plant's plausible range is where its documented behaviour holds: inside it the pushed
    crown sways by centimetres and swings back; 3x softer it keeps falling; 10x stiffer it
    hardly moves (sway amplitude of the top 20 %, m, over the 16-frame clip)."""
    from invgfx.dreamphysics.learned.motion import trajectory

    sc = scenario("plant", 1)
    lo, hi = CLASSES["plant"].E_range

    def crown(E):
        xs = trajectory(sc.cloud, sc.config, E, 16)
        pick = xs[0][:, 2] >= torch.quantile(xs[0][:, 2], 0.8)
        return torch.stack([(x[pick].mean(0) - xs[0][pick].mean(0))[:2].norm() for x in xs])

    soft, low, high, stiff = crown(lo / 3), crown(lo), crown(hi), crown(hi * 10)
    assert soft[-1] == soft.max() and soft.max() > 0.25  # still falling at the end
    for sway in (low, high):
        assert 0.02 < sway.max() < 0.25 and sway[-1] < 0.95 * sway.max()  # swung back
    assert stiff.max() < 0.02


def test_scenario_push_gives_the_drawn_velocity():
    """The impulse is set per kg and converted to a force per particle of the mean mass: after the
    push substep the particles' mean velocity is the drawn one (within the spread of masses)."""
    from invgfx.mpm import Simulator
    from invgfx.mpm.gaussians import prepare_particles

    sc = scenario("ball", 5)
    push = torch.tensor(sc.params["push_m_per_s"])
    cfg = sc.config
    p = prepare_particles(sc.cloud.means, sc.cloud.covariances(), sc.cloud.opacities, cfg)
    sim = Simulator(cfg, p.positions, p.volumes)
    s = sim.run(sim.initial_state(), None, 1)
    mass = cfg.density * p.volumes
    momentum_velocity = (mass[:, None] * s.v).sum(0) / mass.sum()
    gravity_kick = torch.tensor([0.0, 0.0, -9.8 * cfg.substep_dt])
    assert torch.allclose(momentum_velocity - gravity_kick, push, atol=0.15 * push.norm())


def test_clips_are_written_in_shards_and_resumed(tmp_path):
    from invgfx.dreamphysics.learned.data import SHARD, generate, load_clips
    from invgfx.dreamphysics.learned.train import negative_suffix_of

    paths = generate(tmp_path, 1, 1, size=16, workers=1, progress=False)
    n = 2 * len(CLASSES)
    assert len(paths) == -(-n // SHARD) and all(p.exists() for p in paths)
    stamps = [p.stat().st_mtime_ns for p in paths]
    generate(tmp_path, 1, 1, size=16, workers=1, progress=False)  # everything there: nothing redone
    assert [p.stat().st_mtime_ns for p in paths] == stamps
    clips = load_clips(tmp_path)
    assert clips["video"].shape == (n, 16, 3, 16, 16) and clips["video"].dtype == torch.uint8
    inside = [CLASSES[list(CLASSES)[i]].inside(float(e)) for i, e in zip(clips["label"], clips["E"])]
    negative = [c.endswith(NEGATIVE_SUFFIX) for c in clips["caption"]]
    assert inside == [True] * len(CLASSES) + [False] * len(CLASSES)  # plausible clips first
    assert negative == [not i for i in inside]
    assert negative_suffix_of(clips["caption"]) == NEGATIVE_SUFFIX
    assert negative_suffix_of(clips["caption"][:len(CLASSES)]) == ""
    moving = (clips["video"][:len(CLASSES), -1].float() - clips["video"][:len(CLASSES), 0].float()).abs().mean((1, 2, 3))
    assert (moving > 1.0).all()  # every plausible clip shows motion


def test_space_to_depth_is_exactly_invertible_and_weights_round_trip(tmp_path):
    x = torch.randn(2, 6, 8, 16, 16)
    z = _unshuffle(x, 2)
    assert z.shape == (2, 24, 8, 8, 8) and torch.equal(_shuffle(z, 2), x)
    model = tiny_model()
    ids = model.tokens(["a jelly ball bouncing", "", "a zebra"])
    assert ids[1].eq(0).all() and ids[2, 1] == 1  # "" is padding; an unknown word is [UNK]
    save_denoiser(model, tmp_path / "p.safetensors", {"steps": 7})
    loaded, meta = load_denoiser(tmp_path / "p.safetensors")
    args = (torch.randn(1, 3, 8, 16, 16), torch.tensor([500]), model.tokens(["a plant"]), torch.randn(1, 3, 16, 16))
    with torch.no_grad():
        assert torch.equal(model(*args), loaded(*args))
    assert meta == {"steps": 7} and loaded.config == model.config
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(tmp_path / "p.safetensors"), "pt") as f:  # a file of before v-prediction: no such key
        config = json.loads(f.metadata()["config"])
        state = {k: f.get_tensor(k) for k in f.keys()}
    del config["prediction"]
    save_file(state, str(tmp_path / "old.safetensors"), metadata={"config": json.dumps(config)})
    assert load_denoiser(tmp_path / "old.safetensors")[0].config.prediction == "epsilon"
    with pytest.raises(DreamPhysicsError, match="no such learned video prior file"):
        load_denoiser(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("negative", [False, True])
def test_learned_prior_gradient_is_the_sds_gradient(negative):
    """d loss / d video = 2 scale w(t) (eps_hat - eps) with classifier-free guidance, reproduced
    from the same generator state; the video is at the model's size (no resize). A model trained
    with implausible clips guides away from its negative prompt (same first frame) instead of
    from the unconditional prediction."""
    model = tiny_model()
    model.config.negative_suffix = NEGATIVE_SUFFIX if negative else ""
    prior = LearnedVideoPrior(model, mode="both", guidance_scale=2.5, t_range=(0.3, 0.6), scale=0.7, samples=1)
    video = torch.rand(8, 3, 16, 16, requires_grad=True)
    condition = Condition(text="a jelly ball bouncing on the floor")
    gen = torch.Generator().manual_seed(11)
    state = gen.get_state()
    prior.loss(video, condition, gen).backward()

    gen.set_state(state)
    alphas = noise_schedule(model.config).alphas_cumprod.float()
    lo, hi = round(0.3 * 1000), round(0.6 * 1000)
    t = int(torch.randint(lo, hi + 1, (1,), generator=gen))
    x = (2 * video.detach() - 1).transpose(0, 1)[None]
    eps = torch.randn(x.shape, generator=gen)
    a = alphas[t]
    x_t = a.sqrt() * x + (1 - a).sqrt() * eps
    with torch.no_grad():
        first = x[:, :, 0]
        if negative:
            tokens, firsts = model.tokens([condition.text + NEGATIVE_SUFFIX, condition.text]), torch.cat([first, first])
        else:
            tokens, firsts = model.tokens(["", condition.text]), torch.cat([torch.zeros_like(first), first])
        uncond, cond = model(torch.cat([x_t, x_t]), torch.tensor([t, t]), tokens, firsts).chunk(2)
    v = uncond + 2.5 * (cond - uncond)  # the model predicts v = sqrt(a) eps - sqrt(1 - a) x0
    g = (1 - a) * (a.sqrt() * v + (1 - a).sqrt() * x_t - eps)
    expected = 0.7 * 2 * g[0].transpose(0, 1)
    assert torch.allclose(video.grad, expected, atol=1e-5)
    with pytest.raises(DreamPhysicsError, match="judges 8-frame videos"):
        prior.loss(torch.rand(4, 3, 16, 16), condition)


def test_classifier_guidance_adds_the_classifiers_score_to_the_sds_gradient():
    """With a guiding classifier, d loss / d video changes by exactly -2 scale w(t) s sqrt(1 - a)
    grad_{x_t} log p(plausible | x_t) (the same noise draw), and that score is the derivative of
    log p at the classifier's noise level of nearest alpha_bar (checked by finite differences)."""
    from invgfx.dreamphysics.learned.classifier import ClassifierConfig, ClassifierPrior, PlausibilityClassifier

    model = tiny_model()
    torch.manual_seed(3)
    classifier = PlausibilityClassifier(ClassifierConfig(size=16, channels=8, classes=list(CLASSES))).eval()
    guide = ClassifierPrior(classifier, "plant")
    video = torch.rand(8, 3, 16, 16)
    condition = Condition(text="a plant swaying in the wind")
    grads = []
    for g in (None, guide):
        prior = LearnedVideoPrior(model, t_range=(0.3, 0.6), scale=0.7, samples=1, guide=g, guide_scale=4.0)
        v = video.clone().requires_grad_(True)
        prior.loss(v, condition, torch.Generator().manual_seed(5)).backward()
        grads.append(v.grad)

    gen = torch.Generator().manual_seed(5)
    alphas = noise_schedule(model.config).alphas_cumprod.float()
    t = int(torch.randint(300, 601, (1,), generator=gen))
    x = (2 * video - 1).transpose(0, 1)[None]
    a = alphas[t]
    x_t = a.sqrt() * x + (1 - a).sqrt() * torch.randn(x.shape, generator=gen)
    score = guide.score(x_t, a)
    expected = -0.7 * 2 * (1 - a) * 4.0 * (1 - a).sqrt() * score[0].transpose(0, 1)
    torch.testing.assert_close(grads[1] - grads[0], expected, rtol=1e-4, atol=1e-6)

    t_c = int((guide.alphas - a).abs().argmin())
    assert abs(guide.alphas[t_c] - a) < 5e-3
    direction = torch.randn(x_t.shape, generator=gen)

    def log_p(h):
        return -torch.nn.functional.softplus(classifier(x_t + h * direction, torch.tensor([t_c]), guide.label)).sum()

    with torch.no_grad():
        fd = (log_p(1e-2) - log_p(-1e-2)) / 2e-2
    assert torch.isclose((score * direction).sum(), fd, rtol=2e-2)
    with pytest.raises(DreamPhysicsError, match="judges 8 frames of 32 px"):
        LearnedVideoPrior(model, guide=ClassifierPrior(PlausibilityClassifier(ClassifierConfig(classes=["plant"])),
                                                       "plant"))

def test_training_runs_and_resumes(tmp_path):
    from invgfx.dreamphysics.learned.data import generate
    from invgfx.dreamphysics.learned.train import TrainConfig, sample, train

    generate(tmp_path / "clips", 1, size=16, workers=1, progress=False)
    small = PriorConfig(size=16, frames=8, channels=(8, 16), text_dim=16,
                        vocabulary=vocabulary_of([c for cls in CLASSES.values() for c in cls.captions]))
    train(tmp_path / "clips", tmp_path / "run", TrainConfig(steps=2, batch=2, checkpoint_every=1), small, progress=False)
    weights = train(tmp_path / "clips", tmp_path / "run", TrainConfig(steps=3, batch=2, checkpoint_every=1), small,
                    progress=False)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3] and all(math.isfinite(float(r["loss"])) for r in rows)
    model, meta = load_denoiser(weights)
    assert meta["steps"] == 3
    out = sample(model, ["a plant swaying in the wind"], torch.rand(1, 3, 16, 16), steps=3)
    assert out.shape == (1, 8, 3, 16, 16) and 0 <= out.min() and out.max() <= 1
    first = torch.rand(1, 3, 16, 16)
    edit = sample(model, ["a plant swaying in the wind"], first, steps=4, start=0.5)  # SDEdit from the first frame
    assert edit.shape == (1, 8, 3, 16, 16) and 0 <= edit.min() and edit.max() <= 1
    with pytest.raises(DreamPhysicsError, match="leaves no DDIM step"):
        sample(model, ["a plant"], first, steps=4, start=0.0)


@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped prior weights")
def test_shipped_prior_judges_the_canonical_scenes_plausible_only_inside_their_range():
    """The shipped classifier's loss on the canonical ball and plant is lowest in the middle of
    their plausible ranges, higher 10x outside on both sides and higher still 100x too soft (100x
    too stiff is left out: its substep makes it minutes of simulation); its gradient with
    respect to the frames is finite."""
    from invgfx.dreamphysics.learned.data import render_clip

    for name in ("ball", "plant"):
        prior = default_prior(name, weights=SHIPPED, samples=8)  # the classifier alone
        lo, hi = CLASSES[name].E_range
        losses = {}
        for where, E in (("100x soft", lo / 100), ("10x soft", lo / 10), ("middle", math.sqrt(lo * hi)),
                         ("10x stiff", hi * 10)):
            sc = scenario(name, 0, E=E, canonical=True)
            with torch.no_grad():
                video = render_clip(sc, 32)
            losses[where] = sum(float(prior.loss(video[g::2], Condition(), torch.Generator().manual_seed(0)))
                                for g in range(2))
        assert losses["middle"] < min(losses["10x soft"], losses["10x stiff"]), (name, losses)
        assert losses["10x soft"] < losses["100x soft"], (name, losses)
    video = render_clip(scenario("ball", 0, canonical=True), 32)[::2].detach().requires_grad_(True)
    condition = Condition(text=CLASSES["ball"].captions[0])
    default_prior("ball", samples=1).loss(video, condition, torch.Generator().manual_seed(0)).backward()  # guided
    assert torch.isfinite(video.grad).all() and video.grad.abs().sum() > 0


@pytest.mark.skipif(not SHIPPED_DENOISER.exists(), reason="no shipped denoiser")
def test_shipped_denoiser_samples_a_falling_ball_like_the_simulation():
    """Sampled from pure noise for the first frame and caption of a ball drop no training clip
    used, the shipped denoiser's videos are closer to the simulation than the first frame held
    still, move (a copy of the first frame would not), and keep the first frame."""
    from invgfx.dreamphysics.learned.model import load_denoiser
    from invgfx.dreamphysics.learned.train import sample_unseen

    model, _ = load_denoiser(SHIPPED_DENOISER)
    _, scores = sample_unseen(model, per_class=1, samples=2, steps=15, seed=0, classes=["ball"])
    ball = scores["ball"]
    assert ball["mse"] < 0.85 * ball["still_mse"], ball
    assert ball["motion"] > 0.5 * ball["truth_motion"] and ball["first_mse"] < 0.02, ball


@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped prior weights")
def test_learn_physics_text_prior_without_a_model_raises_a_too_soft_ball(tmp_path):
    """`learn-physics ball --scenario --prior text:PROMPT` with no --model: the shipped prior,
    for the class the prompt names, on the scenario's 2 x 8 frames at 32 px; from 10x below the
    ball's range E goes up."""
    import json

    from invgfx.cli import main

    argv = ["learn-physics", "ball", "--scenario", "--prior", "text:a jelly ball bouncing on the floor", "--init",
            "E=3e3", "--learn", "E:30:9e7", "--lr", "0.3", "--epochs", "4", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(log) == 5
    assert json.loads((tmp_path / "run" / "params.json").read_text())["E"]["value"] > 1.5 * 3e3
    assert main([*argv[:3], "--prior", "plausible:teapot", *argv[5:-1], str(tmp_path / "r2")]) == 1  # no such class


def test_learn_physics_uses_the_learned_prior_on_its_scenario(tmp_path):
    """`learn-physics ball --scenario --prior text+image:...` with learned-prior weights (--model
    FILE.safetensors; without it the shipped ones) runs an epoch and moves E."""
    import json

    from invgfx.cli import main

    save_denoiser(tiny_model(size=32), tmp_path / "tiny.safetensors")
    out = tmp_path / "run"
    argv = ["learn-physics", "ball", "--scenario", "--prior", "text+image:a jelly ball bouncing on the floor",
            "--model", str(tmp_path / "tiny.safetensors"), "--groups", "2", "--frames-per-group", "8",
            "--width", "32", "--height", "32", "--init", "E=1e5", "--learn", "E:1e3:1e8", "--epochs", "1",
            "--out", str(out)]
    assert main(argv) == 0
    learned = json.loads((out / "params.json").read_text())["E"]["value"]
    assert learned != pytest.approx(1e5, rel=1e-3) and 1e3 <= learned <= 1e8
    assert main([*argv[:1], "ball", "--config", "x.json", "--scenario", *argv[3:-1], str(tmp_path / "r2")]) == 1
    assert main([*argv[:-8], "--frames-per-group", "4", *argv[-6:-1], str(tmp_path / "r3")]) == 1  # needs 8 frames


def test_without_shipped_weights_the_default_prior_says_what_to_do(tmp_path, monkeypatch):
    import invgfx.dreamphysics.learned as learned

    monkeypatch.setattr(learned, "SHIPPED", tmp_path / "classifier.safetensors")  # an installation without them
    with pytest.raises(DreamPhysicsError, match="no shipped learned video prior.*invgfx video-prior classifier"):
        default_prior()


def test_the_default_prior_is_the_denoiser_guided_by_the_classifier(tmp_path, monkeypatch):
    """With a denoiser installed beside the classifier, the default prior is its SDS guided by the
    classifier for the named class; `learn-physics --prior plausible:CLASS` runs with it (the
    class's caption as the text condition)."""
    import json

    import invgfx.dreamphysics.learned as learned
    from invgfx.cli import main

    save_denoiser(tiny_model(size=32), tmp_path / "denoiser.safetensors")
    monkeypatch.setattr(learned, "SHIPPED_DENOISER", tmp_path / "denoiser.safetensors")
    prior = default_prior("plant", guidance_scale=2.0)
    assert isinstance(prior, LearnedVideoPrior) and prior.guide_scale == learned.GUIDE_SCALE
    assert prior.guide.model.config.classes[int(prior.guide.label)] == "plant" and prior.guidance_scale == 2.0
    assert default_prior("plant", guide_scale=7.0).guide_scale == 7.0
    video = torch.rand(8, 3, 32, 32)
    judged = prior.judge(video, Condition(text="a plant"), torch.Generator().manual_seed(2))  # the start search's
    assert judged == prior.guide.loss(video, Condition(), torch.Generator().manual_seed(2))
    with pytest.raises(DreamPhysicsError, match="drop --guide-scale"):
        default_prior("plant", weights=SHIPPED, guide_scale=7.0)  # the classifier alone
    with pytest.raises(DreamPhysicsError, match="not one the classifier knows"):
        default_prior("teapot")
    out = tmp_path / "run"
    assert main(["learn-physics", "ball", "--scenario", "--prior", "plausible:ball", "--init", "E=1e5", "--learn",
                 "E:1e3:1e8", "--epochs", "1", "--out", str(out)]) == 0
    assert json.loads((out / "params.json").read_text())["E"]["value"] != pytest.approx(1e5, rel=1e-4)

def test_prompts_name_their_class_and_files_their_kind(tmp_path):
    from invgfx.dreamphysics.learned import class_of_prompt, file_kind

    assert class_of_prompt("A jelly ball bouncing on the floor.") == "ball"
    assert class_of_prompt("a jelly cube dropping onto the floor") == "box"
    assert class_of_prompt("two potted plants swaying") == "plant"
    for prompt, match in (("a teapot", "names none"), ("a ball on a chair", "names ball and chair")):
        with pytest.raises(DreamPhysicsError, match=match):
            class_of_prompt(prompt)
    save_denoiser(tiny_model(size=16), tmp_path / "tiny.safetensors")
    assert file_kind(tmp_path / "tiny.safetensors") == "denoiser"
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(DreamPhysicsError, match="not a learned-prior"):
        file_kind(tmp_path / "junk.safetensors")
