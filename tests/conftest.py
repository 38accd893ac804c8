import pytest
import torch

from invgfx.splat.geometry import covariance_from_quat_scale


@pytest.fixture
def random_gaussians():
    """A factory of small random Gaussian scenes in front of a camera at the origin region."""

    def make(n: int, seed: int = 0, dtype=torch.float32, sh_degree: int | None = None, spread: float = 0.4):
        g = torch.Generator().manual_seed(seed)
        means = torch.randn(n, 3, generator=g, dtype=torch.float64) * spread
        quats = torch.randn(n, 4, generator=g, dtype=torch.float64)
        scales = torch.rand(n, 3, generator=g, dtype=torch.float64) * 0.12 + 0.02
        opacities = torch.rand(n, generator=g, dtype=torch.float64) * 0.85 + 0.1
        if sh_degree is None:
            colors = torch.rand(n, 3, generator=g, dtype=torch.float64)
        else:
            colors = torch.randn(n, (sh_degree + 1) ** 2, 3, generator=g, dtype=torch.float64) * 0.3
            colors[:, 0] += 0.8
        out = dict(means=means, quats=quats, scales=scales, opacities=opacities, colors=colors)
        out = {k: v.to(dtype) for k, v in out.items()}
        out["covars"] = covariance_from_quat_scale(out["quats"], out["scales"])
        return out

    return make

