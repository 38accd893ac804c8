"""Disentanglement metrics on synthetic codes whose answer is known."""

import numpy as np
import pytest

from invgfx.ign import IGNError
from invgfx.ign.metrics import FactorGrid, all_metrics, beta_vae_score, dci, factor_vae_score, mig, sap

SIZES = (6, 5, 5, 8)


def _grid(mix=None, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    f = FactorGrid(SIZES, np.zeros((int(np.prod(SIZES)), 4))).all_factors().astype(float)
    z = (f / (np.array(SIZES) - 1) - 0.5) * 2 + noise * rng.normal(size=f.shape)
    return FactorGrid(SIZES, z if mix is None else z @ mix)


HADAMARD = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0  # every latent mixes all


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(1)
    random_code = FactorGrid(SIZES, rng.normal(size=(int(np.prod(SIZES)), 4)))
    return {name: all_metrics(g, seed=0, n_points=600) for name, g in
            (("disentangled", _grid()), ("mixed", _grid(HADAMARD)), ("random", random_code))}


def test_perfectly_disentangled_code_scores_near_one(scores):
    s = scores["disentangled"]
    for key in ("beta_vae", "factor_vae", "dci_disentanglement", "dci_completeness", "dci_informativeness"):
        assert s[key] > 0.95, key
    assert s["mig"] > 0.9 and s["sap"] > 0.9


def test_rotated_code_loses_the_axis_aligned_scores(scores):
    s = scores["mixed"]
    assert s["mig"] < 0.3 and s["sap"] < 0.3 and s["dci_disentanglement"] < 0.5 and s["dci_completeness"] < 0.5
    assert s["dci_informativeness"] > 0.5  # still far above chance (~0.16): mixed, not lost


def test_random_code_scores_at_chance(scores):
    s = scores["random"]
    assert s["beta_vae"] < 0.4 and s["factor_vae"] < 0.4  # chance is 1/4
    assert s["mig"] < 0.05 and s["sap"] < 0.05 and s["dci_disentanglement"] < 0.2


def test_factor_vae_ignores_collapsed_latents():
    g = _grid()
    padded = FactorGrid(SIZES, np.concatenate([g.codes, np.zeros((len(g.codes), 3))], 1))  # three dead latents
    assert factor_vae_score(padded, np.random.default_rng(0), 300, 200) > 0.95


def test_mig_and_sap_fall_as_a_second_latent_copies_a_factor():
    g = _grid()
    dup = FactorGrid(SIZES, np.concatenate([g.codes, g.codes[:, :1]], 1))  # factor 0 in two latents
    rng = np.random.default_rng
    assert mig(dup, rng(0), 1500) < mig(g, rng(0), 1500) - 0.15
    assert sap(dup, rng(0), 600, 300) < sap(g, rng(0), 600, 300) - 0.15
    assert dci(dup, rng(0), 400, 200)["completeness"] < dci(g, rng(0), 400, 200)["completeness"] - 0.1


def test_beta_vae_is_seeded():
    g = _grid(HADAMARD)
    assert beta_vae_score(g, np.random.default_rng(3), 200, 100) == beta_vae_score(g, np.random.default_rng(3), 200, 100)


def test_grid_shape_mismatch_is_explained():
    with pytest.raises(IGNError, match="grid sizes"):
        FactorGrid((2, 3), np.zeros((5, 2)))


def test_variance_shares_split_a_known_grid_code_into_its_effects():
    from invgfx.ign.evaluate import variance_shares

    rng = np.random.default_rng(0)
    ident, az, el, light = (rng.standard_normal(n) for n in (6, 5, 4, 3))
    el, az = el - el.mean(), az - az.mean()  # centred, so their product has no main effects
    I, A, E, L = np.ix_(ident, az, el, light)
    pure = E + 0 * (I + A + L)  # codes elevation alone
    assert variance_shares(pure)["elevation"] == pytest.approx(1.0)
    assert sum(variance_shares(pure).values()) == pytest.approx(1.0)
    mixed = 2 * E + I + A * E  # elevation, identity and an azimuth x elevation interaction, independent
    shares, total = variance_shares(mixed), mixed.var()
    assert shares["elevation"] == pytest.approx((2 * E + 0 * mixed).var() / total)
    assert shares["identity"] == pytest.approx((I + 0 * mixed).var() / total)
    assert shares["azimuth x elevation"] == pytest.approx((A * E + 0 * mixed).var() / total)
    assert shares["light"] == pytest.approx(0, abs=1e-12) and shares["identity x light"] == pytest.approx(0, abs=1e-12)
    assert sum(shares.values()) == pytest.approx(1.0)
