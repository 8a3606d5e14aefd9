"""The real architectures on a CUDA GPU, through Atelier's back ends, with random weights:

  python -m local_models.bench_gpu [--families sdxl flux sd3] [--levels 0 1 2 3] [--batches 1 4]
                                   [--compile both|on|off] [--steps 4] [--repeats 3] [--out bench_gpu.jsonl]

SDXL, FLUX.1 and SD3 are built from the values of their published `config.json` files (UNet /
transformer, VAE, CLIP and T5 text encoders) with random weights: nothing is downloaded, and the
compute per step is the real model's. Each configuration (family × memory level × torch.compile
× batch size) runs the back end's `generate` on the family's default size and reports images per
second, peak GPU memory, and the share of the request's time spent outside the pipeline call
(Atelier's own overhead: checks, the owner thread, batching, saving PNGs). One JSON line per
configuration goes to stdout and to --out, so the script can be rerun on any GPU and compared.
Without CUDA it refuses at once (exit status 2)."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

FAMILIES = ("sdxl", "flux", "sd3")


# ---- full-size components from the published configs ---------------------------------------------
def _clip(kind: str, projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    if kind == "L":  # openai/clip-vit-large-patch14 text tower
        cfg = CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                             projection_dim=768, hidden_act="quick_gelu", vocab_size=49408, max_position_embeddings=77)
        return (CLIPTextModelWithProjection if projection else CLIPTextModel)(cfg)
    cfg = CLIPTextConfig(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
                         projection_dim=1280, hidden_act="gelu", vocab_size=49408, max_position_embeddings=77)
    return CLIPTextModelWithProjection(cfg)  # OpenCLIP ViT-bigG/14 text tower


def _t5_xxl():
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                                   feed_forward_proj="gated-gelu", is_gated_act=True, dense_act_fn="gelu_new"))


def _vae(latent_channels: int, **kw):
    import diffusers as d

    return d.AutoencoderKL(in_channels=3, out_channels=3, latent_channels=latent_channels,
                           block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                           sample_size=1024, **kw)


def build(family: str):
    """The full-size pipeline of `family`, random weights, built on the GPU in its dtype."""
    import diffusers as d
    import torch

    from local_models import tiny_pipelines as tiny

    if family == "sdxl":  # stabilityai/stable-diffusion-xl-base-1.0
        unet = d.UNet2DConditionModel(
            sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048,
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816)
        with torch.device("cpu"):  # schedulers keep CPU tensors, whatever device the models are built on
            scheduler = d.EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                 steps_offset=1, timestep_spacing="leading")
        return d.StableDiffusionXLPipeline(vae=_vae(4, scaling_factor=0.13025, force_upcast=True),
                                           text_encoder=_clip("L"), text_encoder_2=_clip("G"),
                                           tokenizer=tiny.clip_tokenizer(), tokenizer_2=tiny.clip_tokenizer(),
                                           unet=unet, scheduler=scheduler)
    if family == "flux":  # black-forest-labs/FLUX.1-schnell
        transformer = d.FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38,
                                               attention_head_dim=128, num_attention_heads=24,
                                               joint_attention_dim=4096, pooled_projection_dim=768,
                                               guidance_embeds=False, axes_dims_rope=(16, 56, 56))
        with torch.device("cpu"):
            scheduler = d.FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)
        return d.FluxPipeline(vae=_vae(16, scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False,
                                       use_post_quant_conv=False),
                              text_encoder=_clip("L"), text_encoder_2=_t5_xxl(), tokenizer=tiny.clip_tokenizer(),
                              tokenizer_2=tiny.t5_tokenizer(), transformer=transformer, scheduler=scheduler)
    if family == "sd3":  # stabilityai/stable-diffusion-3-medium-diffusers
        transformer = d.SD3Transformer2DModel(sample_size=128, patch_size=2, in_channels=16, num_layers=24,
                                              attention_head_dim=64, num_attention_heads=24, joint_attention_dim=4096,
                                              caption_projection_dim=1536, pooled_projection_dim=2048,
                                              out_channels=16, pos_embed_max_size=192)
        with torch.device("cpu"):
            scheduler = d.FlowMatchEulerDiscreteScheduler(shift=3.0)
        return d.StableDiffusion3Pipeline(
            vae=_vae(16, scaling_factor=1.5305, shift_factor=0.0609, use_quant_conv=False, use_post_quant_conv=False),
            text_encoder=_clip("L", projection=True), text_encoder_2=_clip("G"), text_encoder_3=_t5_xxl(),
            tokenizer=tiny.clip_tokenizer(), tokenizer_2=tiny.clip_tokenizer(), tokenizer_3=tiny.t5_tokenizer(),
            transformer=transformer, scheduler=scheduler)
    raise SystemExit(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")


# ---- one configuration ---------------------------------------------------------------------------
def run_one(family: str, level: int, compiled: bool, batch: int, steps: int, repeats: int) -> dict:
    import torch

    from agent.core.types import GenerationRequest
    from local_models import diffusers_base
    from local_models.catalog import IMAGE_MODELS
    from local_models.specs import SPECS

    real = {"sdxl": "sdxl", "flux": "flux-schnell", "sd3": "sd3-medium"}[family]
    spec = replace(SPECS[real], name=f"bench-{family}", steps=steps, scheduler=None, max_n=max(4, batch))
    dtype = torch.bfloat16 if spec.dtype == "bf16" else torch.float16
    for key in list(diffusers_base.CACHE):
        diffusers_base.evict(key)
    torch.cuda.reset_peak_memory_stats()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("cuda"):
            pipe = build(family)
    finally:
        torch.set_default_dtype(previous)
    os.environ["ATELIER_MEMORY"] = str(level)
    os.environ["ATELIER_COMPILE"] = "1" if compiled else "0"
    module, _, cls = IMAGE_MODELS[real].partition(":")
    backend = getattr(__import__(module, fromlist=[cls]), cls)(spec.name, spec=spec, pipeline=pipe)
    inside = [0.0]
    denoise = backend.denoise

    def timed(*args, **kwargs):
        torch.cuda.synchronize()
        start = time.perf_counter()
        out = denoise(*args, **kwargs)
        torch.cuda.synchronize()
        inside[0] += time.perf_counter() - start
        return out

    backend.denoise = timed
    w, h = spec.sizes[0]
    with tempfile.TemporaryDirectory() as out:
        request = GenerationRequest(prompt="a lighthouse on a cliff at dusk, oil painting", model=f"local:{real}",
                                    n=batch, width=w, height=h, seed=1)
        backend.generate(request, Path(out))  # warm-up (and compilation)
        torch.cuda.reset_peak_memory_stats()
        inside[0], start = 0.0, time.perf_counter()
        for i in range(repeats):
            backend.generate(request.model_copy(update={"seed": 10 + i}), Path(out))
        total = time.perf_counter() - start
    row = {"family": family, "level": level, "memory": diffusers_base.MEMORY_LEVELS[level], "compile": compiled,
           "batch": batch, "size": f"{w}x{h}", "steps": steps, "images_per_s": round(batch * repeats / total, 4),
           "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
           "outside_share": round(max(0.0, 1 - inside[0] / total), 4), "gpu": torch.cuda.get_device_name()}
    del backend, pipe
    for key in list(diffusers_base.CACHE):
        diffusers_base.evict(key)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--levels", nargs="+", type=int, default=[0, 1, 2, 3])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    p.add_argument("--compile", choices=("both", "on", "off"), default="both")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("bench_gpu.jsonl"))
    args = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("bench_gpu needs a CUDA GPU (torch.cuda.is_available() is False); nothing was run. "
              "For CPU timings on tiny pipelines use python -m local_models.bench_pipelines", file=sys.stderr)
        return 2
    compiles = {"both": (False, True), "on": (True,), "off": (False,)}[args.compile]
    with args.out.open("a") as log:
        for family in args.families:
            for level in args.levels:
                for compiled in compiles:
                    for batch in args.batches:
                        try:
                            row = run_one(family, level, compiled, batch, args.steps, args.repeats)
                        except Exception as e:  # one configuration failing (OOM at level 0) is a result too
                            row = {"family": family, "level": level, "compile": compiled, "batch": batch,
                                   "error": f"{type(e).__name__}: {str(e)[:200]}"}
                            with contextlib.suppress(Exception):
                                torch.cuda.empty_cache()
                        print(json.dumps(row), flush=True)
                        log.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
