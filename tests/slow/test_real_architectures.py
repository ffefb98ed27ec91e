"""Real architectures at real sizes with random weights, saved in the real on-disk formats and
loaded back through exactly the loaders users call. Run with `make test-slow` (minutes, ~8 GB)."""

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow


def test_sd15_architecture_round_trip_and_one_denoising_step(tmp_path):
    from promptbank.generator import build_sd_pipeline, load_generator

    pipeline = build_sd_pipeline("sd15")
    unet_params = sum(p.numel() for p in pipeline.unet.parameters())
    assert 850e6 < unet_params < 870e6  # SD 1.5's UNet has 859.5 M parameters
    folder = tmp_path / "sd15-random"
    pipeline.save_pretrained(folder, safe_serialization=True)
    del pipeline
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    generator = load_generator(str(folder))
    image = generator.generate(["a photo of a cat."], [0], resolution=512, steps=1, guidance=7.5)[0]
    assert image.size == (512, 512)
    assert np.asarray(image).std() > 0


@pytest.mark.parametrize(
    ("name", "dims", "embed"),
    [("convnext_base_w_320", (128, 256, 512, 1024), 640)],
)
def test_convnext_clip_round_trip_and_forward_at_768(tmp_path, name, dims, embed):
    from promptbank.encoder import load_clip, load_encoder, save_encoder

    clip, _, _ = load_clip(name, random_init=True)
    weights = save_encoder(clip, tmp_path / name, arch=name)
    del clip
    encoder = load_encoder(name, weights=weights)
    assert encoder.stage_dims == dims and encoder.embed_dim == embed
    with torch.no_grad():
        out = encoder.encode_image(torch.randn(1, 3, 768, 768))
    assert out.dense.shape == (1, embed, 24, 24)
    assert out.s4.shape == (1, dims[0], 192, 192)
    assert out.s16.shape == (1, dims[2], 48, 48)
    assert encoder.encode_text(["a photo of a cat."]).shape == (1, embed)
