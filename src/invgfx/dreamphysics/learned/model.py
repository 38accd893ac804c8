"""A small video diffusion model of procedural physics clips, and the SDS prior built on it.

The denoiser is diffusers' `UNet3DConditionModel` (ModelScope's UNet) with a small config,
conditioned like both published priors at once:
- on text, like ModelScope: a one-layer `CLIPTextModel` over a word-level vocabulary of the
  training captions (unknown words -> [UNK]) gives the cross-attention states;
- on the first frame, like Stable Video Diffusion: the frame is concatenated to the noisy video
  on channels, repeated over time.
Either condition is dropped (empty caption, zero image) 10 % of the time in training, so one model
gives classifier-free guidance for text, image or both.

Videos live in pixel space, (B, 3, T, S, S) in [-1, 1]; the UNet sees them space-to-depth
(`pixel_unshuffle` by `unshuffle`: (B, 3 u^2, T, S/u, S/u)), an exact, invertible "tiny VAE"
that makes the CPU cost 4x smaller. Noise: DDPM, `squaredcos_cap_v2` betas, v-prediction (v =
sqrt(a) eps - sqrt(1 - a) x0; epsilon prediction, the first version's, left the top noise levels
unlearned: its x0 estimate (x_t - sqrt(1 - a) eps_hat) / sqrt(a) divides by sqrt(a) -> 0 there).

Weights are one safetensors file whose metadata holds the `PriorConfig` (JSON) and vocabulary.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from invgfx.dreamphysics.errors import DreamPhysicsError
from invgfx.dreamphysics.prior import Condition, VideoPrior, check_video, prompt_for
from invgfx.dreamphysics.sds import ddpm_sds, noise_from_output

PAD, UNK = "[PAD]", "[UNK]"


@dataclass
class PriorConfig:
    """size: frame side in pixels; frames: T; unshuffle: space-to-depth factor; channels: UNet
    block widths (the last level has cross-attention); text_dim: width of the text states;
    max_tokens: caption length; vocabulary: the words the text encoder knows; schedule: DDPM
    betas; n_timesteps: noise levels; prediction: what the UNet outputs, "v_prediction" or
    "epsilon"; groups, frame_dt: how the clips were cut from simulations (frames `frame_dt` s
    apart in the simulation, every `groups`-th one); classes: object classes;
    negative_suffix: appended to a caption, the negative prompt of SDS ("" if the training data had
    no implausible clips)."""

    size: int = 32
    frames: int = 8
    unshuffle: int = 2
    channels: tuple = (32, 64)
    text_dim: int = 32
    max_tokens: int = 12
    vocabulary: list = field(default_factory=list)
    schedule: str = "squaredcos_cap_v2"
    n_timesteps: int = 1000
    prediction: str = "v_prediction"
    groups: int = 2
    frame_dt: float = 0.03
    classes: list = field(default_factory=list)
    negative_suffix: str = ""


def words(text: str) -> list[str]:
    """Lower-case words of a caption (punctuation dropped)."""
    return re.findall(r"[a-z]+", text.lower())


def vocabulary_of(captions) -> list[str]:
    return [PAD, UNK, *sorted({w for c in captions for w in words(c)})]


class VideoDenoiser(nn.Module):
    """eps_hat(x_t, t, caption tokens, first frame) for videos (B, 3, T, S, S) in [-1, 1]."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        from diffusers import UNet3DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel

        self.config = config
        c, u = config.channels, config.unshuffle
        self.unet = UNet3DConditionModel(
            in_channels=2 * 3 * u * u, out_channels=3 * u * u, block_out_channels=tuple(c), layers_per_block=1,
            norm_num_groups=8, down_block_types=("DownBlock3D",) * (len(c) - 1) + ("CrossAttnDownBlock3D",),
            up_block_types=("CrossAttnUpBlock3D",) + ("UpBlock3D",) * (len(c) - 1),
            cross_attention_dim=config.text_dim, attention_head_dim=8,
        )
        self.text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(config.vocabulary), hidden_size=config.text_dim, intermediate_size=2 * config.text_dim,
            num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=config.max_tokens,
            projection_dim=config.text_dim, pad_token_id=0, bos_token_id=None, eos_token_id=0,
        ))
        self.index = {w: i for i, w in enumerate(config.vocabulary)}

    def tokens(self, captions: list[str]) -> Tensor:
        """(B, max_tokens) word ids; "" gives all padding (the unconditional caption)."""
        ids = torch.zeros(len(captions), self.config.max_tokens, dtype=torch.long)
        for i, caption in enumerate(captions):
            w = [self.index.get(x, 1) for x in words(caption)][: self.config.max_tokens]
            ids[i, : len(w)] = torch.tensor(w, dtype=torch.long)
        return ids

    def forward(self, x_t: Tensor, t: Tensor, tokens: Tensor, first: Tensor) -> Tensor:
        """x_t (B, 3, T, S, S), t (B,) long, tokens (B, L), first (B, 3, S, S) in [-1, 1] or zeros
        (no image condition) -> the UNet's output (B, 3, T, S, S): v or eps by config.prediction."""
        u, T = self.config.unshuffle, x_t.shape[2]
        cond = first[:, :, None].expand(-1, -1, T, -1, -1)
        z = _unshuffle(torch.cat([x_t, cond], 1), u)
        text = self.text_encoder(tokens.to(x_t.device))[0]
        return _shuffle(self.unet(z, t, encoder_hidden_states=text).sample, u)


def _unshuffle(x: Tensor, u: int) -> Tensor:
    """(B, C, T, H, W) -> (B, C u^2, T, H/u, W/u), space to depth per frame."""
    B, C, T, H, W = x.shape
    y = F.pixel_unshuffle(x.transpose(1, 2).reshape(B * T, C, H, W), u)
    return y.reshape(B, T, C * u * u, H // u, W // u).transpose(1, 2)


def _shuffle(x: Tensor, u: int) -> Tensor:
    """Inverse of `_unshuffle`."""
    B, C, T, h, w = x.shape
    y = F.pixel_shuffle(x.transpose(1, 2).reshape(B * T, C, h, w), u)
    return y.reshape(B, T, C // (u * u), h * u, w * u).transpose(1, 2)


def noise_schedule(config):
    """diffusers' DDPMScheduler of a config with `schedule` and `n_timesteps` (a prior's or a
    classifier's); what is used of it is its alphas_cumprod."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=config.n_timesteps, beta_schedule=config.schedule, clip_sample=True)


def save_denoiser(model: VideoDenoiser, path: str | Path, extra: dict | None = None) -> None:
    """Weights (float32) with the config (and `extra`, e.g. training steps) in the metadata."""
    from safetensors.torch import save_file

    from invgfx.atomic import atomic_output

    meta = {"config": json.dumps(asdict(model.config)), **{k: json.dumps(v) for k, v in (extra or {}).items()}}
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_output(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def read_model_file(path: str | Path, what: str, made_by: str, config_class=None) -> tuple[dict, dict, object]:
    """(config dict, other metadata, config_class(**config) or None) of a learned-prior .safetensors
    file; errors name the file and say that `what` is made by the command(s) `made_by`."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise DreamPhysicsError(f"{path}: no such {what} file (train one with {made_by})")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        config = json.loads(meta["config"])
        built = config_class(**config) if config_class is not None else None
    except (KeyError, ValueError, TypeError, OSError, SafetensorError) as err:
        raise DreamPhysicsError(f"{path}: not a {what} ({err}); expected a file written by "
                                f"{made_by}") from None
    return config, {k: json.loads(v) for k, v in meta.items() if k != "config"}, built


def load_denoiser(path: str | Path, device: str | torch.device = "cpu") -> tuple[VideoDenoiser, dict]:
    """(model in eval mode without gradients, metadata) from a `save_denoiser` file."""
    from safetensors.torch import load_file

    stored, extra, config = read_model_file(path, "learned video prior", "`invgfx video-prior train`", PriorConfig)
    config.channels = tuple(config.channels)
    if "prediction" not in stored:  # written before v-prediction (2026-12-02): those predicted epsilon
        config.prediction = "epsilon"
    model = VideoDenoiser(config)
    model.load_state_dict(load_file(str(path)))
    return model.to(device).eval().requires_grad_(False), extra


class LearnedVideoPrior(VideoPrior):
    """SDS with the learned procedural video prior (the default prior of `learn-physics`).

    loss(video, condition): the (T, 3, H, W) video is resized to the model's size (differentiably,
    area-averaged), mapped to [-1, 1]; t ~ U[t_range], x_t = DDPM noising, eps_hat with
    classifier-free guidance over the conditions of `mode` ('text', 'image' or 'both': the
    caption condition.text and/or the first frame condition.image, else the first video frame),
    and the gradient w(t) (eps_hat - eps), w = 1 - alpha_bar_t, scaled by `scale`, is pushed
    into the video (`invgfx.dreamphysics.sds`). `samples` noise draws are averaged per call.

    Guidance: eps_hat = eps_neg + g (eps_pos - eps_neg). With a text condition and a model trained
    with implausible clips (config.negative_suffix), eps_neg is the *negative prompt* (the caption
    + " with unrealistic physics", the same first frame), so the guidance term is the gradient of
    log p(plausible | x_t) / p(implausible | x_t): it points from wrong motion to right motion of
    the same object. Otherwise eps_neg is the unconditional prediction (no caption, no image).

    guide: a plausibility classifier (`classifier.ClassifierPrior` of the object's class) adds
    classifier guidance (Dhariwal & Nichol 2021): eps_hat - guide_scale sqrt(1 - a) grad_{x_t}
    log p(plausible | x_t), so SDS follows the score of p(x_t | plausible), the denoiser's
    judgement of what the object looks like and the classifier's of how stiff it may be."""

    def __init__(self, model: VideoDenoiser, mode: str = "both", guidance_scale: float = 3.0,
                 t_range: tuple[float, float] = (0.2, 0.7), scale: float = 1.0, samples: int = 2,
                 guide=None, guide_scale: float = 1.0):
        if mode not in ("text", "image", "both"):
            raise DreamPhysicsError(f"LearnedVideoPrior: mode {mode!r} is not one of text, image, both")
        if guide is not None and (guide.model.config.size, guide.model.config.frames) != (model.config.size,
                                                                                          model.config.frames):
            raise DreamPhysicsError(
                f"LearnedVideoPrior: the guiding classifier judges {guide.model.config.frames} frames of "
                f"{guide.model.config.size} px, the denoiser {model.config.frames} of {model.config.size} px")
        self.guide, self.guide_scale = guide, guide_scale
        self.model, self.mode = model, mode
        self.guidance_scale, self.t_range, self.scale, self.samples = guidance_scale, t_range, scale, samples
        self.alphas = noise_schedule(model.config).alphas_cumprod.float()

    def prepare(self, video: Tensor) -> Tensor:
        """(T, 3, H, W) in [0, 1] -> (1, 3, T, S, S) in [-1, 1], differentiable."""
        S = self.model.config.size
        if video.shape[-1] != S or video.shape[-2] != S:
            video = F.interpolate(video, size=(S, S), mode="area")
        return (2 * video - 1).transpose(0, 1)[None]

    def loss(self, video: Tensor, condition: Condition, generator: torch.Generator | None = None) -> Tensor:
        check_video(video, "LearnedVideoPrior.loss")
        cfg = self.model.config
        if video.shape[0] != cfg.frames:
            raise DreamPhysicsError(
                f"the learned prior judges {cfg.frames}-frame videos (every {cfg.groups}nd of frames {cfg.frame_dt} s "
                f"apart); this video has {video.shape[0]} frames: use --frames-per-group {cfg.frames} "
                f"--groups {cfg.groups} with a frame_dt of {cfg.frame_dt} s")
        x = self.prepare(video)
        caption = prompt_for(condition, "LearnedVideoPrior", False) if self.mode != "image" else ""
        image = condition.image if condition.image is not None else video[0]
        first = self.prepare(image[None].detach())[:, :, 0] if self.mode != "text" else torch.zeros_like(x[:, :, 0])
        if caption and cfg.negative_suffix:
            tokens = self.model.tokens([caption + cfg.negative_suffix, caption])
            firsts = torch.cat([first, first])
        else:
            tokens = self.model.tokens(["", caption])
            firsts = torch.cat([torch.zeros_like(first), first])
        g = self.guidance_scale

        def predict_noise(x_t: Tensor, t: int) -> Tensor:
            ts = torch.full((2,), t, dtype=torch.long)
            uncond, cond = self.model(torch.cat([x_t, x_t]), ts, tokens, firsts).chunk(2)
            a = self.alphas[t]
            eps_hat = noise_from_output(uncond + g * (cond - uncond), x_t, a, cfg.prediction)
            if self.guide is not None:
                eps_hat = eps_hat - self.guide_scale * (1 - a).sqrt() * self.guide.score(x_t, a)
            return eps_hat

        total = sum(ddpm_sds(x, predict_noise, self.alphas, self.t_range, generator) for _ in range(self.samples))
        return self.scale * total / self.samples

    def judge(self, video: Tensor, condition: Condition, generator: torch.Generator | None = None) -> Tensor:
        """The guiding classifier's -log p(plausible | x_t) (an SDS loss value is a denoising
        residual, not a judgement); without a guide, the SDS loss value."""
        if self.guide is not None:
            return self.guide.loss(video, condition, generator)
        return self.loss(video, condition, generator)
