"""`invgfx ign ...` end to end on a tiny dataset: dataset, train (+ baseline), sweep, rerender, evaluate."""

import json

import numpy as np
import pytest
from PIL import Image

from invgfx.cli import main
from invgfx.ign import IGNError
from invgfx.ign.shapes import single_thread
from invgfx.ign.train import load_checkpoint


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with single_thread():  # tiny tensors: one thread is fastest, above all on a busy shared machine
        yield


DATA = ["--family", "faces", "--size", "32", "--identities", "12", "--test-identities", "4",
        "--batches", "2", "2", "2", "4", "--batch-size", "4", "--grid", "3", "2", "2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ign")
    cache = ["--cache-dir", str(root / "cache")]
    assert main(["ign", "dataset", *DATA, *cache, "--preview", str(root / "preview.png"),
                 "--export-folders", str(root / "folders")]) == 0
    for name, extra in (("dcign", []), ("vae", ["--baseline", "--kernel", "5"])):
        assert main(["ign", "train", *DATA, *cache, "--steps", "4", "--checkpoint-every", "2", "--latents", "8",
                     "--out", str(root / name), *extra]) == 0
    return root, cache


def test_dataset_writes_preview_and_original_layout(runs):
    root, _ = runs
    assert Image.open(root / "preview.png").size[0] > 64
    assert len(list((root / "folders" / "SHAPE_VARIED").iterdir())) == 4


def test_the_default_command_trains_the_default_recipe_and_keeps_its_kernel(runs):
    root, _ = runs
    model, meta = load_checkpoint(root / "dcign" / "checkpoint.safetensors")
    assert model.config.enc_kernel == model.config.dec_kernel == 3
    cfg = meta["train_config"]
    assert (cfg["clamp"], cfg["lr"], cfg["mirror_weight"], cfg["mirror_images"]) == ("swap", 8e-4, 100.0, 10)
    assert tuple(cfg["ratio"]) == (1, 2, 1.5, 3) and cfg["steps"] == 4  # --steps overrides the recipe's
    model, meta = load_checkpoint(root / "vae" / "checkpoint.safetensors")
    assert model.config.dec_kernel == 5 and meta["train_config"]["clamp"] == "mean"


def test_sweep_and_rerender_write_images(runs):
    root, cache = runs
    ckpt = str(root / "dcign" / "checkpoint.safetensors")
    assert main(["ign", "sweep", "--checkpoint", ckpt, "--factor", "light", "--rows", "3", "--cols", "5",
                 "--scale", "1", "--out", str(root / "sweep.png"), *cache]) == 0
    assert Image.open(root / "sweep.png").size == (6 * 34 + 2, 3 * 34 + 2)  # input + 5 values, 32 px + 2 px borders
    Image.fromarray(np.full((40, 40), 128, np.uint8)).save(root / "in.png")
    assert main(["ign", "rerender", str(root / "in.png"), "--checkpoint", ckpt, "--azimuth", "30",
                 "--out", str(root / "out.png")]) == 0
    assert Image.open(root / "out.png").size == (32, 32)


def test_evaluate_compares_with_baseline(runs, capsys):
    root, cache = runs
    assert main(["ign", "evaluate", "--checkpoint", str(root / "dcign" / "checkpoint.safetensors"),
                 "--baseline", str(root / "vae" / "checkpoint.safetensors"), "--metric-points", "300",
                 "--out", str(root / "eval"), *cache]) == 0
    table = capsys.readouterr().out
    assert "| DC-IGN | baseline |" in table and "novel-view MSE, azimuth" in table
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    assert 0 <= metrics["DC-IGN"]["r2_azimuth"] <= 1 and metrics["baseline"]["recon_mse"] > 0
    assert 0 <= metrics["DC-IGN"]["mig"] <= 1 and 0 <= metrics["baseline"]["dci_disentanglement"] <= 1
    assert (root / "eval" / "scatter_dc-ign.png").exists()


def test_user_errors_name_the_argument(runs, tmp_path, capsys):
    root, cache = runs
    ckpt = str(root / "dcign" / "checkpoint.safetensors")
    assert main(["ign", "sweep", "--checkpoint", ckpt, "--factor", "z99", "--out", str(tmp_path / "x.png"), *cache]) == 1
    assert "--factor z99" in capsys.readouterr().err
    assert main(["ign", "rerender", str(tmp_path / "missing.png"), "--checkpoint", ckpt, "--light", "10",
                 "--out", str(tmp_path / "y.png")]) == 1
    assert "missing.png: no such image" in capsys.readouterr().err
    assert main(["ign", "train", "--data", str(tmp_path / "nothing")]) == 1
    assert "--data" in capsys.readouterr().err
    assert main(["ign", "train", *DATA, "--kernel", "4", "--out", str(tmp_path / "k4")]) == 1
    assert "odd kernels" in capsys.readouterr().err
    assert main(["ign", "train", "--config", "paper", "--kernel", "3", "--out", str(tmp_path / "p")]) == 1
    assert "--kernel" in capsys.readouterr().err
    assert main(["ign", "dataset", *DATA, "--cache-dir", str(tmp_path / "c"), "--workers", "0"]) == 1
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_a_folder_trained_model_evaluates_on_a_test_folder(runs, capsys, tmp_path):
    root, _ = runs
    folders = root / "folders"
    assert main(["ign", "train", "--data", str(folders), "--size", "32", "--steps", "2", "--latents", "8",
                 "--out", str(tmp_path / "run")]) == 0
    ckpt = str(tmp_path / "run" / "checkpoint.safetensors")
    assert main(["ign", "evaluate", "--checkpoint", ckpt, "--data", str(folders)]) == 0
    table = capsys.readouterr().out
    assert "latent-swap novel-view MSE, azimuth" in table and "unchanged-code MSE, light" in table
    assert "R^2 azimuth latent" in table and "identity accuracy" in table


def test_thin_part_errors_on_known_reconstructions():
    from invgfx.ign.evaluate import thin_part_errors

    full = np.zeros((2, 8, 8))
    full[:, 3, :] = 0.8  # a thin bar
    body = np.zeros_like(full)
    assert thin_part_errors(full, full, body) == {"thin_recon_mse": 0.0, "thin_kept": 1.0}
    dropped = thin_part_errors(body, full, body)
    assert dropped["thin_kept"] == 0.0 and dropped["thin_recon_mse"] == pytest.approx(0.64)
    half = full.copy()
    half[:, 3, :4] = 0.3  # nearer the body than the truth on 4 of 8 pixels
    assert thin_part_errors(half, full, body)["thin_kept"] == 0.5
    with pytest.raises(IGNError, match="no pixel"):
        thin_part_errors(body, body, body)


def test_batch_evaluation_pairs_images_of_one_batch(runs):
    """Known answers: in batches whose images are all the same, copying the input costs nothing
    and swapping a latent between equal codes changes nothing."""
    from invgfx.ign.data import BatchSet
    from invgfx.ign.evaluate import evaluate_batches

    root, _ = runs
    model, meta = load_checkpoint(root / "dcign" / "checkpoint.safetensors")
    rng = np.random.default_rng(0)
    one = rng.integers(0, 255, (6, 1, 32, 32), dtype=np.uint8)
    images = np.repeat(one, 4, axis=1)  # 6 batches of 4 identical images
    factors = np.zeros((6, 4, 4), np.float32)
    factors[..., 3] = np.arange(6)[:, None]
    out = evaluate_batches(model, BatchSet(images, factors, np.array([0, 0, 1, 1, 2, 2])), meta["calibration"])
    for name in ("azimuth", "elevation", "light"):
        assert out[f"copy_{name}"] == 0
        assert out[f"swap_{name}"] == pytest.approx(out[f"unchanged_{name}"], rel=1e-5)
    assert out["unchanged_azimuth"] == pytest.approx(out["recon_mse"], rel=0.2)
