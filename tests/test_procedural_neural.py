"""The pix2pix-style translator: shapes, massing respected, training resumes, comparison runs."""

import numpy as np
import pytest
import torch

from invgfx.procedural import NAMES, ProceduralError
from invgfx.procedural.modules import EMPTY, GROUND, occupancy
from invgfx.procedural.neural import PatchDiscriminator3D, TrainConfig, UNet3D, building_pairs, load_translator, train, translate

TINY = dict(shape=(12, 12, 8), n_train=12, batch=2, channels=4, checkpoint_every=2, lr=3e-3)


def test_pairs_and_network_shapes():
    massing, labels = building_pairs(5, (12, 12, 8), seed=1)
    assert massing.shape == labels.shape == (5, 12, 12, 8)
    assert (massing == occupancy(labels)).all() and massing.any(axis=(1, 2, 3)).all()
    assert (labels[:, :, :, 0] == GROUND).all()
    gen, disc = UNet3D(len(NAMES), 4), PatchDiscriminator3D(len(NAMES), 4)
    x = torch.zeros(2, 2, 12, 12, 8)
    logits = gen(x)
    assert logits.shape == (2, len(NAMES), 12, 12, 8)
    assert disc(torch.cat([x, logits.softmax(1)], 1)).shape == (2, 1, 3, 3, 2)


def test_training_checkpoints_resumes_and_learns(tmp_path):
    torch.set_num_threads(1)
    first = train(TrainConfig(steps=3, **TINY), tmp_path, progress=False)
    assert first["step"] == 3 and (tmp_path / "checkpoint.pt").exists()
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert saved["step"] == 3 and saved["opt_g"]["state"]  # optimiser moments travel with it
    more = train(TrainConfig(steps=40, **TINY), tmp_path, progress=False)  # continues from step 3
    assert more["step"] == 40 and torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 40
    assert more["ce"] < np.log(len(NAMES)) - 1.0  # well below the uniform guess: it learned something
    gen = load_translator(tmp_path)
    massing, truth = building_pairs(1, (12, 12, 8), seed=99)
    odd = massing[0][:11, :10, :7]  # any size works (padded inside)
    out = translate(gen, odd)
    assert out.shape == odd.shape
    assert (occupancy(out) == odd).all()  # the massing is filled exactly
    assert (out[~odd][np.nonzero(~odd)[2] > 0] == EMPTY).all()


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ProceduralError, match="train-neural"):
        load_translator(tmp_path / "none")
    with pytest.raises(ProceduralError, match="multiple of 4"):
        train(TrainConfig(shape=(13, 12, 8)), tmp_path, progress=False)


def test_an_interrupted_training_saves_its_last_step(tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM, which `invgfx` turns into the same) at step 5 keeps steps 1-4 for a rerun."""
    from invgfx.procedural import neural

    torch.set_num_threads(1)
    calls = {"n": 0}
    real = neural.F.cross_entropy

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(neural.F, "cross_entropy", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(steps=50, **{**TINY, "checkpoint_every": 250}), tmp_path, progress=False)  # no regular save
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 4
