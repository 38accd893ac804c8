"""Disentanglement metrics, written from their published definitions (as in disentanglement_lib).

All work on a `FactorGrid`: a code vector (the encoder's mean) for every cell of a full factorial
grid of discrete factors, which is what "sample observations with factor k fixed" needs.
Point counts default below the library's (10000 / 5000) so that they run in seconds on a CPU;
pass the library's values for comparable numbers.

    beta_vae_score   Higgins et al. 2017: linear classifier predicting the fixed factor from mean |z1 - z2|
    factor_vae_score Kim & Mnih 2018: majority vote of argmin normalised variance under a fixed factor
    mig              Chen et al. 2018: mutual information gap, 20-bin discretised latents
    dci              Eastwood & Williams 2018: gradient-boosted-tree importances -> D, C, I
    sap              Kumar et al. 2018: gap between the two most predictive single latents (R^2 / accuracy)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from invgfx.ign import IGNError


@dataclass
class FactorGrid:
    """codes (prod(sizes), D): the code of grid cell `np.ravel_multi_index(factors, sizes)`."""

    sizes: tuple[int, ...]
    codes: np.ndarray

    def __post_init__(self) -> None:
        if self.codes.ndim != 2 or self.codes.shape[0] != int(np.prod(self.sizes)):
            raise IGNError(f"FactorGrid: codes {self.codes.shape} do not match the grid sizes {self.sizes}")

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, K) uniformly drawn factor indices."""
        return np.stack([rng.integers(0, s, n) for s in self.sizes], 1)

    def codes_at(self, factors: np.ndarray) -> np.ndarray:
        return self.codes[np.ravel_multi_index(factors.T, self.sizes)]

    def all_factors(self) -> np.ndarray:
        """(prod(sizes), K) factor indices of every cell, in code order."""
        return np.stack(np.unravel_index(np.arange(self.codes.shape[0]), self.sizes), 1)


def beta_vae_score(grid: FactorGrid, rng: np.random.Generator, n_train: int = 1000, n_eval: int = 500,
                   batch_size: int = 64) -> float:
    """Evaluation accuracy of a logistic regression predicting k from mean |z(x1) - z(x2)| over
    `batch_size` pairs that share factor k. Chance is 1 / K."""
    from sklearn.linear_model import LogisticRegression

    def points(n):
        feats, labels = [], []
        for _ in range(n):
            k = rng.integers(len(grid.sizes))
            f1, f2 = grid.sample_factors(batch_size, rng), grid.sample_factors(batch_size, rng)
            f2[:, k] = f1[:, k]
            feats.append(np.abs(grid.codes_at(f1) - grid.codes_at(f2)).mean(0))
            labels.append(k)
        return np.array(feats), np.array(labels)

    x_train, y_train = points(n_train)
    x_eval, y_eval = points(n_eval)
    clf = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    return float(clf.score(x_eval, y_eval))


def factor_vae_score(grid: FactorGrid, rng: np.random.Generator, n_train: int = 1000, n_eval: int = 500,
                     batch_size: int = 64, n_variance: int = 5000, prune_std: float = 0.05) -> float:
    """Evaluation accuracy of the majority-vote classifier: fix factor k over a batch, take the
    code dimension with the smallest variance relative to its global variance, vote (dim -> k).
    Dimensions whose global std < `prune_std` are ignored (collapsed latents)."""
    global_var = np.var(grid.codes_at(grid.sample_factors(n_variance, rng)), axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_std
    if not active.any():
        return 0.0
    K, D = len(grid.sizes), grid.codes.shape[1]

    def votes(n):
        v = np.zeros((D, K), dtype=np.int64)
        for _ in range(n):
            k = rng.integers(K)
            f = grid.sample_factors(batch_size, rng)
            f[:, k] = f[0, k]
            local = np.var(grid.codes_at(f), axis=0, ddof=1)
            ratio = np.where(active, local / np.where(active, global_var, 1.0), np.inf)
            v[np.argmin(ratio), k] += 1
        return v

    classifier = np.argmax(votes(n_train), axis=1)
    v_eval = votes(n_eval)
    return float(v_eval[np.arange(D), classifier].sum() / v_eval.sum())


def discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """(N, D) codes -> (N, D) bin indices, `bins` equal-width bins per dimension."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], bins)[1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1])
    return out


def mutual_information(codes_d: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(D, K) mutual information (nats) between discrete codes (N, D) and factors (N, K)."""
    from sklearn.metrics import mutual_info_score

    return np.array([[mutual_info_score(c, f) for f in factors.T] for c in codes_d.T])


def mig(grid: FactorGrid, rng: np.random.Generator, n_points: int = 5000, bins: int = 20) -> float:
    """Mean over factors of (largest - second largest MI with a latent) / H(factor)."""
    f = grid.sample_factors(n_points, rng)
    m = mutual_information(discretize(grid.codes_at(f), bins), f)
    entropy = np.array([mutual_information(f[:, [k]], f[:, [k]])[0, 0] for k in range(f.shape[1])])
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if m.shape[0] > 1 else np.zeros(m.shape[1])
    return float(np.mean((top[0] - second) / np.maximum(entropy, 1e-12)))


def _entropy(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy along axis 0 of the columns of p (normalised here), in log base `base`."""
    p = p / np.maximum(p.sum(0, keepdims=True), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(0)
    return h / np.log(base)


def dci(grid: FactorGrid, rng: np.random.Generator, n_train: int = 2000, n_test: int = 1000,
        n_estimators: int = 30) -> dict[str, float]:
    """Disentanglement, completeness, informativeness from per-factor gradient-boosted-tree
    classifiers. R (D, K) = feature importances; D = sum_j rho_j (1 - H_K(R_j.)),
    C = sum_k rho_k (1 - H_D(R_.k)), I = mean test accuracy."""
    from sklearn.ensemble import GradientBoostingClassifier

    f_train, f_test = grid.sample_factors(n_train, rng), grid.sample_factors(n_test, rng)
    z_train, z_test = grid.codes_at(f_train), grid.codes_at(f_test)
    D, K = grid.codes.shape[1], len(grid.sizes)
    R, acc = np.zeros((D, K)), []
    for k in range(K):
        clf = GradientBoostingClassifier(n_estimators=n_estimators, random_state=int(rng.integers(2**31)))
        clf.fit(z_train, f_train[:, k])
        R[:, k] = np.abs(clf.feature_importances_)
        acc.append(clf.score(z_test, f_test[:, k]))
    total = max(R.sum(), 1e-12)
    disent = float(np.sum((1 - _entropy(R.T, K)) * R.sum(1) / total)) if K > 1 else 1.0
    compl = float(np.sum((1 - _entropy(R, D)) * R.sum(0) / total)) if D > 1 else 1.0
    return {"disentanglement": disent, "completeness": compl, "informativeness": float(np.mean(acc))}


def sap(grid: FactorGrid, rng: np.random.Generator, n_train: int = 2000, n_test: int = 1000,
        categorical: tuple[int, ...] = ()) -> float:
    """Mean over factors of the gap between the two most predictive single latents. Ordinal factors
    (pose, light) score a latent by the R^2 of a linear fit; the factors listed in `categorical`
    (e.g. identity) by the test accuracy of a linear SVM (C = 0.01, balanced classes), as Kumar et
    al. and disentanglement_lib do for continuous and discrete factors respectively."""
    from sklearn.svm import LinearSVC

    f_train, f_test = grid.sample_factors(n_train, rng), grid.sample_factors(n_test, rng)
    z_train, z_test = grid.codes_at(f_train), grid.codes_at(f_test)
    D, K = grid.codes.shape[1], len(grid.sizes)
    score = np.zeros((D, K))
    for k in range(K):
        if k in categorical:
            for j in range(D):
                clf = LinearSVC(C=0.01, class_weight="balanced").fit(z_train[:, [j]], f_train[:, k])
                score[j, k] = clf.score(z_test[:, [j]], f_test[:, k])
        else:
            z, f = z_train - z_train.mean(0), f_train[:, k] - f_train[:, k].mean()
            cov = z.T @ f / len(f)
            score[:, k] = cov**2 / np.maximum(z.var(0) * f.var(), 1e-12)
    top = np.sort(score, axis=0)[::-1]
    return float(np.mean(top[0] - top[1])) if D > 1 else float(np.mean(top[0]))


def all_metrics(grid: FactorGrid, seed: int = 0, categorical: tuple[int, ...] = (), n_points: int = 2000) -> dict[str, float]:
    """Every score, each from its own seeded generator (so adding one does not shift the others).
    `categorical`: indices of unordered factors (see `sap`); `n_points`: training points of the
    classifier-based scores (the others scale with it; 2000 gives each function's defaults)."""
    n = n_points
    out = {
        "beta_vae": beta_vae_score(grid, np.random.default_rng([seed, 1]), n // 2, n // 4),
        "factor_vae": factor_vae_score(grid, np.random.default_rng([seed, 2]), n // 2, n // 4),
        "mig": mig(grid, np.random.default_rng([seed, 3]), n * 5 // 2),
        "sap": sap(grid, np.random.default_rng([seed, 5]), n, n // 2, categorical=categorical),
    }
    out.update({f"dci_{k}": v for k, v in dci(grid, np.random.default_rng([seed, 4]), n, n // 2).items()})
    return out
