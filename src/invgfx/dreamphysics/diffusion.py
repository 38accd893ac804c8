"""SDS priors from video diffusion models in diffusers layout: text-to-video (ModelScope,
`TextToVideoSDPipeline` components) and image-to-video (Stable Video Diffusion,
`StableVideoDiffusionPipeline` components).

Models load from a diffusers model id or a local folder (`load_text_to_video`,
`load_image_to_video`), in float16 on CUDA and float32 on the CPU unless told otherwise.
The gradient of each prior's loss w.r.t. the video is scale * w (eps_hat - eps) pulled back
through the VAE encoder (the paper's Eq. 3-4); the denoiser itself is not differentiated.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from invgfx.dreamphysics.errors import DreamPhysicsError
from invgfx.dreamphysics.prior import Condition, VideoPrior, check_video, prompt_for
from invgfx.dreamphysics.sds import ddpm_sds, noise_from_output, randn_like, sds_loss

TEXT_TO_VIDEO_ID = "ali-vilab/text-to-video-ms-1.7b"
IMAGE_TO_VIDEO_ID = "stabilityai/stable-video-diffusion-img2vid-xt"


@dataclass
class TextToVideoModel:
    """ModelScope-style components: unet `UNet3DConditionModel` (latents (B, C, T, h, w)),
    vae `AutoencoderKL`, text_encoder `CLIPTextModel`, its tokenizer, and a DDPM-family
    scheduler (its alphas_cumprod and prediction_type are used)."""

    unet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any


@dataclass
class ImageToVideoModel:
    """Stable-Video-Diffusion-style components: unet `UNetSpatioTemporalConditionModel`
    (latents (B, T, C, h, w), image latents concatenated on channels), vae
    `AutoencoderKLTemporalDecoder`, image_encoder `CLIPVisionModelWithProjection`, its
    feature_extractor `CLIPImageProcessor` (image_mean / image_std), and an
    `EulerDiscreteScheduler` (its sigmas, timesteps and prediction_type are used)."""

    unet: Any
    vae: Any
    image_encoder: Any
    feature_extractor: Any
    scheduler: Any


# Component -> (module, class, is it a network) of the diffusers folder layout.
TEXT_TO_VIDEO_LAYOUT = {
    "unet": ("diffusers", "UNet3DConditionModel", True),
    "vae": ("diffusers", "AutoencoderKL", True),
    "text_encoder": ("transformers", "CLIPTextModel", True),
    "tokenizer": ("transformers", "AutoTokenizer", False),
    "scheduler": ("diffusers", "DDPMScheduler", False),
}
IMAGE_TO_VIDEO_LAYOUT = {
    "unet": ("diffusers", "UNetSpatioTemporalConditionModel", True),
    "vae": ("diffusers", "AutoencoderKLTemporalDecoder", True),
    "image_encoder": ("transformers", "CLIPVisionModelWithProjection", True),
    "feature_extractor": ("transformers", "CLIPImageProcessor", False),
    "scheduler": ("diffusers", "EulerDiscreteScheduler", False),
}


def default_dtype(device: str | torch.device, dtype: str | torch.dtype | None) -> torch.dtype:
    """float16 on CUDA, float32 elsewhere, unless `dtype` ('fp32', 'fp16', 'bf16' or a torch dtype) says otherwise."""
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if dtype is None:
        return torch.float16 if torch.device(device).type == "cuda" else torch.float32
    if dtype not in names:
        raise DreamPhysicsError(f"dtype {dtype!r} is not one of {sorted(names)}")
    return names[dtype]


def _load(layout: dict, model: str | Path, what: str, default_id: str, device, dtype, variant: str | None = None) -> dict:
    """Every component of `layout` from a local diffusers folder or a model id, on `device`;
    variant: the weights' file variant (e.g. "fp16": `*.fp16.safetensors`, half the download)."""
    import importlib

    model = str(model)
    looks_local = model.startswith((".", "/", "~")) or Path(model).expanduser().exists()
    how = (f"{what} needs weights in diffusers layout (subfolders {', '.join(layout)}), such as {default_id!r}: "
           f"download them where there is network (`huggingface-cli download {default_id} --local-dir DIR`) "
           f"and pass the folder (--model DIR)")
    if looks_local and not Path(model).expanduser().is_dir():
        raise DreamPhysicsError(f"--model {model}: no such folder; {how}")
    parts = {}
    source = str(Path(model).expanduser()) if looks_local else model
    for name, (module, cls_name, network) in layout.items():
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except ImportError as err:
            raise DreamPhysicsError(f"{what} needs the packages diffusers, transformers and accelerate "
                                    f"({err}); install them with: pip install 'invgfx[diffusion]'") from None
        # diffusers models take the dtype at load time (it keeps fp32-only modules in fp32);
        # transformers renamed that keyword across versions, so its models are cast after.
        kw = {"torch_dtype": dtype} if network and module == "diffusers" else {}
        file_variant = {"variant": variant} if network and variant else {}
        try:
            if name == "vae" and dtype != torch.float32 and cls.load_config(source, subfolder=name).get("force_upcast", True):
                kw = {"torch_dtype": torch.float32}  # as the pipelines do: this VAE overflows in half precision
            parts[name] = cls.from_pretrained(source, subfolder=name, **kw, **file_variant)
        except (OSError, ValueError) as err:
            raise DreamPhysicsError(f"--model {model}: cannot load its {name!r} ({err}); {how}") from None
        if network:
            cast = {} if kw else {"dtype": dtype}
            parts[name] = parts[name].to(device=device, **cast).eval().requires_grad_(False)
    return parts


def load_text_to_video(model: str | Path = TEXT_TO_VIDEO_ID, device: str | torch.device = "cpu",
                       dtype: str | torch.dtype | None = None, variant: str | None = None) -> TextToVideoModel:
    """ModelScope text-to-video components from a model id or a local diffusers folder (its
    VAE kept in float32 where its config says force_upcast, as the pipelines do)."""
    parts = _load(TEXT_TO_VIDEO_LAYOUT, model, "the text-to-video prior (ModelScope)", TEXT_TO_VIDEO_ID, device,
                  default_dtype(device, dtype), variant)
    return TextToVideoModel(**parts)


def load_image_to_video(model: str | Path = IMAGE_TO_VIDEO_ID, device: str | torch.device = "cpu",
                        dtype: str | torch.dtype | None = None, variant: str | None = None) -> ImageToVideoModel:
    """Stable Video Diffusion components from a model id or a local diffusers folder (VAE as
    `load_text_to_video`)."""
    parts = _load(IMAGE_TO_VIDEO_LAYOUT, model, "the image-to-video prior (Stable Video Diffusion)", IMAGE_TO_VIDEO_ID,
                  device, default_dtype(device, dtype), variant)
    return ImageToVideoModel(**parts)


def save_components(model: TextToVideoModel | ImageToVideoModel, path: str | Path, variant: str | None = None) -> None:
    """Write every component to `path/<name>/` with its own `save_pretrained` (the layout the
    loaders read); variant: the networks' weight files as `*.VARIANT.safetensors`."""
    for field in dataclasses.fields(model):
        part = getattr(model, field.name)
        extra = {"variant": variant} if variant and isinstance(part, torch.nn.Module) else {}
        part.save_pretrained(Path(path) / field.name, **extra)


RESOLUTION = 256  # DreamPhysics renders 256 x 256 for both priors; ModelScope's own resolution


def resized(frames: Tensor, resolution: int | None) -> Tensor:
    """(T, 3, H, W) -> (T, 3, R, R) (bilinear with antialiasing, differentiable), or unchanged when
    resolution is None or already R x R: the model sees frames at the size it was trained on."""
    if resolution is None or tuple(frames.shape[-2:]) == (resolution, resolution):
        return frames
    return F.interpolate(frames.float(), size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)


def _chunk(chunk: int | None) -> int | None:
    if chunk is not None and chunk < 1:
        raise DreamPhysicsError(f"vae_chunk={chunk} (--vae-chunk): encode at least 1 frame at a time, or None for all")
    return chunk


def _vae_latents(vae, frames: Tensor, resolution: int | None = None, chunk: int | None = None) -> Tensor:
    """(T, 3, H, W) in [0, 1] -> (T, C, h, w) VAE posterior means from inputs in [-1, 1] (frames
    resized to resolution x resolution first), on the VAE's device and dtype; differentiable
    w.r.t. the frames. chunk: encode this many frames at a time (memory), None: all at once."""
    param = next(vae.parameters())
    x = (2 * resized(frames, resolution) - 1).to(param.device, param.dtype)
    step = chunk or len(x)
    return torch.cat([vae.encode(x[i:i + step]).latent_dist.mode() for i in range(0, len(x), step)])


def _guidance(scale: float | tuple[float, float], n_frames: int) -> Tensor:
    """Classifier-free guidance weight per frame: a constant, or linear from scale[0] to scale[1] (as SVD)."""
    if isinstance(scale, (int, float)):
        return torch.full((n_frames,), float(scale))
    return torch.linspace(float(scale[0]), float(scale[1]), n_frames)


class TextToVideoSDS(VideoPrior):
    """SDS with a ModelScope-style text-to-video model (DreamPhysics' text condition).

    Per call: frames -> VAE latents z (1, C, T, h, w), t ~ U[t_range], x_t = DDPM noising of z,
    eps_hat = eps_u + guidance (eps_c - eps_u) with the prompt (plus a view suffix from
    condition.azimuth/elevation) and `negative_prompt` as the two halves, w(t) = 1 - alpha_bar_t,
    and the loss `scale * sds_loss`. DreamPhysics used guidance 100 and scale 1e-4 / M.
    Frames are resized to `resolution` (ModelScope's 256, None: as rendered) before the VAE,
    which encodes `vae_chunk` frames at a time (None: all).
    """

    def __init__(self, model: TextToVideoModel, guidance_scale: float = 100.0, t_range: tuple[float, float] = (0.02, 0.98),
                 scale: float = 1.0, view_dependent: bool = True, negative_prompt: str = "",
                 resolution: int | None = RESOLUTION, vae_chunk: int | None = None):
        self.model = model
        self.resolution, self.vae_chunk = resolution, _chunk(vae_chunk)
        self.guidance_scale = guidance_scale
        self.t_range = t_range
        self.scale = scale
        self.view_dependent = view_dependent
        self.negative_prompt = negative_prompt
        self._embeddings: dict[str, Tensor] = {}

    def embed(self, prompt: str) -> Tensor:
        """(1, L, D) text-encoder hidden states of `prompt`, cached."""
        if prompt not in self._embeddings:
            tok, enc = self.model.tokenizer, self.model.text_encoder
            ids = tok(prompt, padding="max_length", max_length=tok.model_max_length, truncation=True,
                      return_tensors="pt").input_ids
            with torch.no_grad():
                self._embeddings[prompt] = enc(ids.to(enc.device))[0]
        return self._embeddings[prompt]

    def loss(self, video: Tensor, condition: Condition, generator: torch.Generator | None = None) -> Tensor:
        check_video(video, "TextToVideoSDS.loss")
        unet, sched = self.model.unet, self.model.scheduler
        prompt = prompt_for(condition, "TextToVideoSDS", self.view_dependent)
        text = torch.cat([self.embed(self.negative_prompt), self.embed(prompt)])
        latents = _vae_latents(self.model.vae, video, self.resolution, self.vae_chunk) * self.model.vae.config.scaling_factor
        latents = latents.permute(1, 0, 2, 3)[None].float()  # (1, C, T, h, w)
        alphas = sched.alphas_cumprod.float()
        guidance = self.guidance_scale

        def predict_noise(x_t: Tensor, t: int) -> Tensor:
            out = unet(torch.cat([x_t, x_t]).to(unet.dtype), torch.tensor([t, t], device=x_t.device),
                       encoder_hidden_states=text).sample.float()
            uncond, cond = out.chunk(2)
            return noise_from_output(uncond + guidance * (cond - uncond), x_t, alphas[t].to(x_t.device),
                                     sched.config.prediction_type)

        return self.scale * ddpm_sds(latents, predict_noise, alphas, self.t_range, generator)


def edm_denoised(model_output: Tensor, noisy: Tensor, sigma: float, prediction_type: str) -> Tensor:
    """The clean-sample estimate D(x; sigma) of an Euler (EDM-style) model from its raw output,
    where the model saw noisy / sqrt(sigma^2 + 1); the preconditioning of diffusers' EulerDiscreteScheduler."""
    if prediction_type == "epsilon":
        return noisy - sigma * model_output
    if prediction_type == "v_prediction":
        return model_output * (-sigma / math.sqrt(sigma**2 + 1)) + noisy / (sigma**2 + 1)
    if prediction_type == "sample":
        return model_output
    raise DreamPhysicsError(f"scheduler prediction_type {prediction_type!r} is not one of epsilon, v_prediction, sample")


class ImageToVideoSDS(VideoPrior):
    """SDS with a Stable-Video-Diffusion-style image-to-video model (DreamPhysics' image condition),
    done as the SVD pipeline conditions its model:
    - the conditional half gets the CLIP embedding of condition.image and its VAE latent
      (encoded from [-1, 1] plus noise_aug_strength noise, unscaled, as SVD); the
      unconditional half gets zeros for both;
    - video frames enter the VAE in [-1, 1]; latents are scaled by the VAE's scaling_factor;
    - noise levels are the scheduler's own sigmas (`set_timesteps(n_sigmas)`, from which a
      sigma is drawn within t_range as fractions of the noise range), the UNet sees
      x / sqrt(sigma^2 + 1) and the timestep the scheduler pairs with sigma, and its output
      is turned into D(x; sigma) by the scheduler's prediction type;
    - added time ids [fps - 1, motion_bucket_id, noise_aug_strength], as the pipeline.
    With eps_hat = (x_sigma - D) / sigma and w = sigma^2 / (1 + sigma^2) (= 1 - alpha_bar for the
    equivalent DDPM level) the gradient on the latents is w (eps_hat - eps).
    Frames and the conditioning image are resized to `resolution` (DreamPhysics' 256 for
    img2vid-xt; None: as rendered) before the VAE, which encodes `vae_chunk` frames at a time.
    """

    def __init__(self, model: ImageToVideoModel, guidance_scale: float | tuple[float, float] = (1.0, 3.0),
                 fps: int = 7, motion_bucket_id: int = 127, noise_aug_strength: float = 0.02,
                 t_range: tuple[float, float] = (0.02, 0.98), n_sigmas: int = 25, scale: float = 1.0,
                 resolution: int | None = RESOLUTION, vae_chunk: int | None = None):
        self.model = model
        self.resolution, self.vae_chunk = resolution, _chunk(vae_chunk)
        self.guidance_scale = guidance_scale
        self.fps, self.motion_bucket_id, self.noise_aug_strength = fps, motion_bucket_id, noise_aug_strength
        self.t_range = t_range
        self.scale = scale
        model.scheduler.set_timesteps(n_sigmas)
        self.sigmas = model.scheduler.sigmas[:-1].float()  # descending; the last entry is the final 0
        self.timesteps = model.scheduler.timesteps.float().cpu()

    def _image_condition(self, image: Tensor, n_frames: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """(embeddings (2, 1, D), image latents (2, T, C, h, w)): unconditional zeros, then the image's."""
        enc, fe, vae = self.model.image_encoder, self.model.feature_extractor, self.model.vae
        param = next(enc.parameters())
        size = enc.config.image_size
        pixels = F.interpolate(image[None].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        mean = torch.tensor(fe.image_mean, dtype=pixels.dtype, device=pixels.device)[:, None, None]
        std = torch.tensor(fe.image_std, dtype=pixels.dtype, device=pixels.device)[:, None, None]
        emb = enc(((pixels - mean) / std).to(param.device, param.dtype)).image_embeds[:, None]
        augmented = 2 * resized(image[None], self.resolution) - 1  # its latent sits beside the video's
        augmented = augmented + self.noise_aug_strength * randn_like(augmented, generator)
        vparam = next(vae.parameters())
        lat = vae.encode(augmented.to(vparam.device, vparam.dtype)).latent_dist.mode()
        lat = lat[:, None].expand(-1, n_frames, -1, -1, -1)
        return torch.cat([torch.zeros_like(emb), emb]), torch.cat([torch.zeros_like(lat), lat])

    def loss(self, video: Tensor, condition: Condition, generator: torch.Generator | None = None) -> Tensor:
        check_video(video, "ImageToVideoSDS.loss")
        if condition.image is None or tuple(condition.image.shape[:1]) != (3,) or condition.image.ndim != 3:
            raise DreamPhysicsError("ImageToVideoSDS: condition.image must be the (3, H, W) first frame in [0, 1] "
                                    "of the simulation (the paper conditions on it)")
        unet, sched = self.model.unet, self.model.scheduler
        n = video.shape[0]
        with torch.no_grad():
            emb, image_latents = self._image_condition(condition.image, n, generator)
        latents = (_vae_latents(self.model.vae, video, self.resolution, self.vae_chunk)
                   * self.model.vae.config.scaling_factor)[None].float()
        lo = round((1 - self.t_range[1]) * (len(self.sigmas) - 1))
        hi = round((1 - self.t_range[0]) * (len(self.sigmas) - 1))
        k = int(torch.randint(lo, hi + 1, (1,), generator=generator))
        sigma = float(self.sigmas[k])
        eps = randn_like(latents, generator)
        noisy = latents.detach() + sigma * eps
        time_ids = torch.tensor([[self.fps - 1, self.motion_bucket_id, self.noise_aug_strength]] * 2,
                                device=unet.device, dtype=unet.dtype)
        with torch.no_grad():
            scaled = torch.cat([noisy, noisy]) / math.sqrt(sigma**2 + 1)
            inputs = torch.cat([scaled.to(unet.dtype), image_latents.to(unet.dtype)], dim=2)
            t = self.timesteps[k].to(unet.device).expand(2)
            out = unet(inputs, t, encoder_hidden_states=emb.to(unet.dtype), added_time_ids=time_ids).sample.float()
            uncond, cond = edm_denoised(out, torch.cat([noisy, noisy]), sigma, sched.config.prediction_type).chunk(2)
            g = _guidance(self.guidance_scale, n).to(noisy.device)[None, :, None, None, None]
            eps_hat = (noisy - (uncond + g * (cond - uncond))) / sigma
        return self.scale * sds_loss(latents, eps_hat, eps, sigma**2 / (1 + sigma**2))
