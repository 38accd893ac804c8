"""Inference checkpoints (`invgfx ign export`) and the DC-IGN shipped in the package."""

import json

import pytest
import torch

from invgfx.cli import main
from invgfx.ign import IGNError
from invgfx.ign.export import export_checkpoint, read_metrics, shipped_checkpoint
from invgfx.ign.model import DCIGN, IGNConfig
from invgfx.ign.train import load_checkpoint, load_state, make_optimizer, save_checkpoint, TrainConfig


@pytest.fixture
def training_checkpoint(tmp_path):
    """A small model after one Adam step, saved as `invgfx ign train` does (weights + moments + meta)."""
    torch.manual_seed(0)
    model = DCIGN(IGNConfig(image_size=32, n_latent=8, enc_channels=(4, 4, 4), dec_channels=(4, 4, 1)))
    opt = make_optimizer(model, TrainConfig())
    model(torch.rand(2, 1, 32, 32))[0].sum().backward()
    opt.step()
    calibration = {"azimuth": {"latent": 0, "slope": -1.2, "intercept": 0.1, "r2": 0.9}}
    path = tmp_path / "run" / "checkpoint.safetensors"
    path.parent.mkdir()
    save_checkpoint(path, model, opt, {"dataset": {"family": "faces"}, "step": 1, "calibration": calibration,
                                       "train_config": {"steps": 1}, "scratch": "not for inference"})
    return path, model


def test_export_keeps_the_weights_and_calibration_and_drops_the_optimiser(tmp_path, training_checkpoint):
    src, model = training_checkpoint
    dst = tmp_path / "model.safetensors"
    meta = export_checkpoint(src, dst, {"r2_azimuth": 0.8}, "a test")
    assert dst.stat().st_size < 0.5 * src.stat().st_size  # Adam's two moments are gone
    loaded, loaded_meta = load_checkpoint(dst)
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert loaded_meta == meta and meta["calibration"]["azimuth"]["slope"] == -1.2 and meta["step"] == 1
    assert meta["benchmark"] == {"source": "a test", "metrics": {"r2_azimuth": 0.8}}
    assert "scratch" not in meta and meta["inference_only"] is True
    # it re-renders exactly like the original, and training refuses to resume from it
    x = torch.rand(1, 1, 32, 32)
    assert torch.equal(loaded.encode(x)[0], model.eval().encode(x)[0])
    with pytest.raises(IGNError, match="without optimiser state"):
        load_state(dst, DCIGN(loaded.config), make_optimizer(loaded, TrainConfig()))


def test_export_command_reads_evaluate_and_bench_metrics(tmp_path, training_checkpoint, capsys):
    src, _ = training_checkpoint
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"results": {"DC-IGN": {"r2_light": 0.93}, "baseline": {"r2_light": 0.46}},
                                   "times": {"DC-IGN": 640.0}}))
    out = tmp_path / "out.safetensors"
    assert main(["ign", "export", str(src), str(out), "--metrics", str(metrics)]) == 0
    assert "with benchmark numbers" in capsys.readouterr().out
    assert load_checkpoint(out)[1]["benchmark"]["metrics"] == {"r2_light": 0.93}
    assert read_metrics(metrics, "baseline") == {"r2_light": 0.46}
    evaluated = tmp_path / "evaluate.json"  # `invgfx ign evaluate --out`: {run: {...}}
    evaluated.write_text(json.dumps({"DC-IGN": {"r2_light": 0.9}, "baseline": {"r2_light": 0.5}}))
    assert read_metrics(evaluated) == {"r2_light": 0.9}
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"r2_light": 0.8}))
    assert read_metrics(flat) == {"r2_light": 0.8}
    assert main(["ign", "export", str(src), str(out), "--metrics", str(metrics), "--metrics-run", "VAE"]) == 1
    assert "not 'VAE'" in capsys.readouterr().err
    assert main(["ign", "export", str(tmp_path / "nope.safetensors"), str(out)]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["ign", "export", str(src), str(tmp_path / "out.pt")]) == 1
    assert "*.safetensors" in capsys.readouterr().err


def test_the_shipped_faces_model_loads_small_and_calibrated():
    path = shipped_checkpoint("faces")
    assert path.stat().st_size < 3e6
    model, meta = load_checkpoint(path)
    assert model.config == IGNConfig() and meta["dataset"]["family"] == "faces"
    assert meta["step"] == meta["train_config"]["steps"]  # a finished run
    assert set(meta["calibration"]) == {"azimuth", "elevation", "light"}
    assert meta["benchmark"]["metrics"]["r2_light"] > 0.9 and "unseen identities" in meta["benchmark"]["source"]
    with torch.no_grad():
        assert torch.isfinite(model.decode(torch.zeros(1, 32))).all()
    with pytest.raises(IGNError, match="no shipped DC-IGN checkpoint for family 'chairs'"):
        shipped_checkpoint("chairs")
