"""Tiny random-weight versions of the ModelScope and Stable Video Diffusion architectures.

They are the real diffusers/transformers classes with small configs, so SDS runs through the
same code as with the published weights; they judge nothing (random weights). Used by the
tests and as the starting point of a prior trained on procedural videos.
"""

from __future__ import annotations

import torch

from invgfx.dreamphysics.diffusion import ImageToVideoModel, TextToVideoModel

TINY_WORDS = ("a ball bouncing on the floor plant swaying in the wind jelly front side back overhead view , .").split()


def tiny_tokenizer(max_length: int = 16):
    """A word-level `PreTrainedTokenizerFast` over a few dozen words (unknown words -> [UNK])."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", *dict.fromkeys(TINY_WORDS)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", model_max_length=max_length)


def tiny_text_to_video(seed: int = 0, dim: int = 16) -> TextToVideoModel:
    """ModelScope-like components with ~0.2 M random parameters; latents are 4 x H/2 x W/2."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    unet = UNet3DConditionModel(
        in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=dim, attention_head_dim=4,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=dim, intermediate_size=2 * dim, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=tokenizer.model_max_length, projection_dim=dim,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, eos_token_id=tokenizer.pad_token_id,
    ))
    parts = [m.eval().requires_grad_(False) for m in (unet, vae, text_encoder)]
    return TextToVideoModel(*parts, tokenizer=tokenizer, scheduler=DDPMScheduler(num_train_timesteps=1000))


def tiny_image_to_video(seed: int = 0, num_frames: int = 8) -> ImageToVideoModel:
    """SVD-like components with ~1 M random parameters (the spatio-temporal blocks need 32
    channels for their group norms); latents are 4 x H/2 x W/2; SVD's scheduler config."""
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    dim = 16
    unet = UNetSpatioTemporalConditionModel(
        in_channels=8, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=dim, num_attention_heads=(2, 2), addition_time_embed_dim=4,
        projection_class_embeddings_input_dim=12, num_frames=num_frames,
    )
    vae = AutoencoderKLTemporalDecoder(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 32),
        down_block_types=("DownEncoderBlock2D",) * 2,
    )
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        image_size=32, patch_size=8, hidden_size=dim, intermediate_size=2 * dim, num_hidden_layers=1,
        num_attention_heads=2, projection_dim=dim,
    ))
    parts = [m.eval().requires_grad_(False) for m in (unet, vae, image_encoder)]
    scheduler = EulerDiscreteScheduler(
        prediction_type="v_prediction", timestep_type="continuous", use_karras_sigmas=True,
        sigma_min=0.002, sigma_max=700.0, interpolation_type="linear",
    )
    return ImageToVideoModel(*parts, feature_extractor=CLIPImageProcessor(), scheduler=scheduler)
