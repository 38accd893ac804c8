"""Video priors of invgfx.dreamphysics: SDS maths with analytic denoisers, the reference-video
loss, and SDS through tiny random-weight ModelScope / SVD architectures."""

import importlib.util
import math

import pytest
import torch

from invgfx.dreamphysics import (
    AnalyticSDSPrior, Condition, DreamPhysicsError, ParameterSet, ReferenceVideoPrior, scalar, sds_loss, ssim,
    video_loss, view_suffix,
)
from invgfx.dreamphysics.reference import SSIM_C1
from invgfx.dreamphysics.sds import ddpm_sds, linear_alphas_cumprod, sample_timestep
from invgfx.dreamphysics.toy import SpringBlob


def test_sds_loss_gradient_is_weighted_noise_residual():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 4, 3, 5, 5, generator=g, requires_grad=True)
    eps_hat, eps = torch.randn(2, 4, 3, 5, 5, generator=g), torch.randn(2, 4, 3, 5, 5, generator=g)
    loss = sds_loss(z, eps_hat, eps, 0.3)
    loss.backward()
    torch.testing.assert_close(z.grad, 0.3 * (eps_hat - eps))
    torch.testing.assert_close(loss, 0.5 * (0.3 * (eps_hat - eps)).pow(2).sum())


def test_analytic_prior_gradient_points_to_ground_truth_with_known_scale():
    gen = torch.Generator().manual_seed(1)
    target = torch.rand(4, 3, 8, 8, generator=gen)
    video = torch.rand(4, 3, 8, 8, generator=gen, requires_grad=True)
    prior = AnalyticSDSPrior(target)
    prior.loss(video, Condition(), torch.Generator().manual_seed(7)).backward()
    # Same draw of t as the prior: the first number of the same generator.
    a = linear_alphas_cumprod()[sample_timestep(1000, (0.02, 0.98), torch.Generator().manual_seed(7))]
    # x = 2 v - 1: dL/dv = 2 sqrt(a (1 - a)) (x - x_gt) = 4 sqrt(a (1 - a)) (v - v_gt), whatever the noise.
    expected = 4 * math.sqrt(a * (1 - a)) * (video.detach() - target)
    torch.testing.assert_close(video.grad, expected, rtol=1e-4, atol=1e-6)


def test_sds_with_gaussian_data_denoiser_matches_expected_gradient():
    """Data ~ N(mu, s^2 I): the optimal denoiser is E[eps | x_t] = sqrt(1-a)(x_t - sqrt(a) mu) / (a s^2 + 1 - a),
    so E_eps[w (eps_hat - eps)] = w sqrt(a (1 - a)) (x - mu) / (a s^2 + 1 - a), i.e. SDS pulls x to the mode mu."""
    alphas = linear_alphas_cumprod()
    t_fixed = (0.5, 0.5)
    t = sample_timestep(1000, t_fixed, None)
    a = float(alphas[t])
    mu, s2 = torch.tensor([0.5, -0.2, 0.1]), 0.3

    def denoiser(x_t, t):
        return math.sqrt(1 - a) * (x_t - math.sqrt(a) * mu) / (a * s2 + 1 - a)

    x0 = torch.tensor([1.0, 1.0, -1.0])
    n = 4000
    x = x0.repeat(n, 1).requires_grad_(True)  # n independent samples of the noise in one call
    ddpm_sds(x, denoiser, alphas, t_fixed, torch.Generator().manual_seed(3)).backward()
    mean_grad = x.grad.mean(0)
    expected = (1 - a) * math.sqrt(a * (1 - a)) * (x0 - mu) / (a * s2 + 1 - a)
    # Monte Carlo: per-sample std is (1 - a) |sqrt(1-a)^2/(a s2 + 1 - a) - 1| <= 0.5, so 4000 samples give < 0.03.
    torch.testing.assert_close(mean_grad, expected, atol=0.03, rtol=0)
    assert float(torch.dot(mean_grad, x0 - mu)) > 0


def test_ssim_and_video_loss_known_values():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-5)
    assert float(video_loss(x, x)) == pytest.approx(0.0, abs=1e-5)
    a, b = 0.8, 0.3
    xa, xb = torch.full((2, 3, 16, 16), a), torch.full((2, 3, 16, 16), b)
    # Constant images: no variance, so SSIM is its luminance term (up to float32 cancellation
    # in E[x^2] - E[x]^2, ~1e-7 against C2 = 9e-4).
    ssim_ab = (2 * a * b + SSIM_C1) / (a * a + b * b + SSIM_C1)
    assert float(ssim(xa, xb)) == pytest.approx(ssim_ab, rel=1e-3)
    assert float(video_loss(xa, xb)) == pytest.approx((a - b) ** 2 + 1 - ssim_ab, rel=1e-3)
    assert float(video_loss(xa, xb, ssim_weight=0.0)) == pytest.approx((a - b) ** 2, rel=1e-5)
    with pytest.raises(DreamPhysicsError, match="at least 11x11"):
        ssim(x[..., :8, :8], x[..., :8, :8])


def test_reference_prior_from_file_picks_group_frames(tmp_path):
    from invgfx.splat import write_video

    sim = SpringBlob()
    params = ParameterSet([scalar("stiffness", 40.0, 1.0, 1e4)])
    target = sim(params, torch.arange(8)).detach()
    path = tmp_path / "target"  # a folder of PNG frames: lossless
    write_video(path, target, fps=10)
    prior = ReferenceVideoPrior(path)
    frames = torch.tensor([1, 3, 5, 7])
    assert (prior.target - target).abs().max() <= 0.5 / 255 + 1e-6  # 8-bit rounding only
    assert float(prior.loss(target[frames], Condition(frames=frames))) < 1e-3
    assert float(prior.loss(target[frames], Condition(frames=frames - 1))) > 0.005  # off by one frame
    write_video(tmp_path / "target.mp4", target, fps=10)
    with pytest.warns(UserWarning, match="target.mp4: a .mp4 video is lossy"):
        lossy = ReferenceVideoPrior(tmp_path / "target.mp4")  # H.264 at 32x32 costs ~0.07 in this loss
    assert float(lossy.loss(target[frames], Condition(frames=frames))) > 10 * float(prior.loss(target[frames], Condition(frames=frames)))
    with pytest.raises(DreamPhysicsError, match="target: has 8 frames, but frame 9"):
        prior.loss(target[:2], Condition(frames=torch.tensor([8, 9])))
    with pytest.raises(DreamPhysicsError, match="same resolution"):
        prior.loss(torch.rand(4, 3, 16, 16), Condition(frames=frames))


def test_view_suffix():
    assert view_suffix(0.0) == "front view"
    assert view_suffix(math.radians(90)) == "side view"
    assert view_suffix(math.radians(-170)) == "back view"
    assert view_suffix(0.0, math.radians(70)) == "overhead view"


def test_edm_denoised_recovers_clean_sample_from_exact_outputs():
    from invgfx.dreamphysics.diffusion import edm_denoised

    g = torch.Generator().manual_seed(0)
    x0, eps, sigma = torch.randn(10, generator=g), torch.randn(10, generator=g), 2.5
    noisy = x0 + sigma * eps
    torch.testing.assert_close(edm_denoised(eps, noisy, sigma, "epsilon"), x0)
    v = (eps - sigma * x0) / math.sqrt(sigma**2 + 1)  # v target of the EDM/SVD parameterisation
    torch.testing.assert_close(edm_denoised(v, noisy, sigma, "v_prediction"), x0, rtol=1e-5, atol=1e-5)



def test_noise_from_output_recovers_the_noise_from_exact_outputs():
    from invgfx.dreamphysics.errors import DreamPhysicsError
    from invgfx.dreamphysics.sds import noise_from_output

    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(10, generator=g), torch.randn(10, generator=g)
    for a in (torch.tensor(0.9), torch.tensor(0.3), torch.tensor(1e-6)):  # down to a terminal noise level
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        torch.testing.assert_close(noise_from_output(eps, x_t, a, "epsilon"), eps)
        v = a.sqrt() * eps - (1 - a).sqrt() * x0
        torch.testing.assert_close(noise_from_output(v, x_t, a, "v_prediction"), eps, rtol=1e-5, atol=1e-5)
    with pytest.raises(DreamPhysicsError, match="not one of epsilon, v_prediction"):
        noise_from_output(eps, x_t, a, "sample")

# ---- tiny random-weight diffusers models: the real SDS code paths, end to end -------------------------
# diffusers/transformers are the optional extra "diffusion"; `make test` needs EXTRAS=dev,diffusion to run these.
needs_diffusers = pytest.mark.skipif(
    importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("transformers") is None,
    reason="diffusers/transformers not installed (pip install -e '.[diffusion]')")


@pytest.fixture(scope="module")
def spring_video():
    sim = SpringBlob(size=16)
    params = ParameterSet([scalar("stiffness", 20.0, 1.0, 1e4)])
    return sim, params


@needs_diffusers
def test_text_to_video_sds_gives_finite_gradients_on_stiffness(spring_video, tmp_path):
    from invgfx.dreamphysics import TextToVideoSDS, load_text_to_video, save_components
    from invgfx.dreamphysics.tiny import tiny_text_to_video

    sim, params = spring_video
    model = tiny_text_to_video()
    shapes = []
    hook = model.vae.encoder.register_forward_pre_hook(lambda m, args: shapes.append(tuple(args[0].shape)))
    prior = TextToVideoSDS(model, guidance_scale=7.5, resolution=32, vae_chunk=3)
    cond = Condition(text="a ball bouncing", azimuth=math.radians(100))
    video = sim(params, torch.arange(1, 16, 2))
    loss = prior.loss(video, cond, torch.Generator().manual_seed(0))
    hook.remove()
    assert shapes == [(3, 3, 32, 32), (3, 3, 32, 32), (2, 3, 32, 32)]  # 16 px frames resized, 3 at a time
    loss.backward()
    grad = params["stiffness"].value.grad
    assert torch.isfinite(loss) and float(loss.detach()) > 0
    assert torch.isfinite(grad).all() and float(grad.abs()) > 0
    assert "a ball bouncing, side view" in prior._embeddings  # view-dependent prompt was used
    # The two classifier-free halves see different text.
    assert not torch.allclose(prior.embed(""), prior.embed("a ball bouncing, side view"))
    # The real loading code reads the same components back from a diffusers folder.
    save_components(model, tmp_path)
    again = TextToVideoSDS(load_text_to_video(tmp_path), guidance_scale=7.5, resolution=32)  # all frames at once
    loss2 = again.loss(video.detach(), cond, torch.Generator().manual_seed(0))
    assert float(loss2) == pytest.approx(float(loss.detach()), rel=1e-5)


@needs_diffusers
def test_image_to_video_sds_conditions_halves_and_vae_range(spring_video):
    from invgfx.dreamphysics import ImageToVideoSDS
    from invgfx.dreamphysics.tiny import tiny_image_to_video

    sim, params = spring_video
    params["stiffness"].value.grad = None
    model = tiny_image_to_video()
    seen = {}
    model.vae.encoder.register_forward_pre_hook(lambda m, args: seen.setdefault("vae_in", []).append(args[0].detach()))
    model.unet.register_forward_pre_hook(
        lambda m, args, kw: seen.update(unet_in=args[0], emb=kw["encoder_hidden_states"]), with_kwargs=True)
    prior = ImageToVideoSDS(model, resolution=24)
    video = sim(params, torch.arange(0, 16, 2))
    with pytest.raises(DreamPhysicsError, match="condition.image"):
        prior.loss(video, Condition())
    loss = prior.loss(video, Condition(image=video[0].detach()), torch.Generator().manual_seed(0))
    loss.backward()
    grad = params["stiffness"].value.grad
    assert torch.isfinite(loss) and torch.isfinite(grad).all() and float(grad.abs()) > 0
    # The video and image enter the VAE in [-1, 1] (the background 0.1 -> -0.8), not [0, 1].
    assert min(float(x.min()) for x in seen["vae_in"]) < -0.5
    # The image and the video are resized alike (16 -> 24 px), so their latents sit side by side.
    assert {tuple(x.shape[-2:]) for x in seen["vae_in"]} == {(24, 24)}
    # Unconditional half: zero image embedding and zero image latents; conditional half: the image's.
    emb, unet_in = seen["emb"], seen["unet_in"]
    assert float(emb[0].abs().max()) == 0 and float(emb[1].abs().max()) > 0
    assert float(unet_in[0, :, 4:].abs().max()) == 0 and float(unet_in[1, :, 4:].abs().max()) > 0
    torch.testing.assert_close(unet_in[0, :, :4], unet_in[1, :, :4])  # the same noisy video in both halves


@needs_diffusers
def test_missing_model_says_what_is_needed(tmp_path):
    from invgfx.dreamphysics import load_image_to_video, load_text_to_video

    with pytest.raises(DreamPhysicsError, match=r"no such folder.*ModelScope.*huggingface-cli download.*--model DIR"):
        load_text_to_video(tmp_path / "nowhere")
    with pytest.raises(DreamPhysicsError, match=r"cannot load its 'unet'.*Stable Video Diffusion"):
        load_image_to_video(tmp_path)


@needs_diffusers
def test_half_precision_weights_load_with_their_variant_and_an_upcast_vae(tmp_path):
    """`variant="fp16"` reads `*.fp16.safetensors`; in half precision the VAE stays float32 where
    its config says force_upcast (as the diffusers pipelines do), the other networks are half."""
    from invgfx.dreamphysics import load_text_to_video, save_components
    from invgfx.dreamphysics.tiny import tiny_text_to_video

    model = tiny_text_to_video()
    assert model.vae.config.force_upcast
    save_components(model, tmp_path, variant="fp16")
    assert list((tmp_path / "unet").glob("*.fp16.safetensors"))
    half = load_text_to_video(tmp_path, dtype="fp16", variant="fp16")
    assert next(half.unet.parameters()).dtype == torch.float16 and next(half.text_encoder.parameters()).dtype == torch.float16
    assert next(half.vae.parameters()).dtype == torch.float32
    with pytest.raises(DreamPhysicsError, match="cannot load its 'unet'"):
        load_text_to_video(tmp_path, dtype="fp16")  # no plain weight files there
