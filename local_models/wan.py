"""Wan 2.1 / 2.2: `local:wan-1.3b` and `local:wan2.2-t2v` (text to video; 2.2's two experts, high then
low noise, are `transformer` and `transformer_2`, handed over at the repo's `boundary_ratio`) and
`local:wan2.2-i2v` (image to video); 4·k+1 frames at 16 fps, UniPC flow-matching sampler.
Its VAE runs in float32, as Wan's model card does: in bf16 / fp16 the decoded frames lose detail
and colour (the pipeline casts the latents to the VAE's dtype before decoding)."""
from __future__ import annotations

from typing import Any

import torch

from local_models import decoding
from local_models.video_base import AnimatesSource, DiffusersVideoBackend
from local_models.weights import locate


class WanBackend(DiffusersVideoBackend):
    pipelines = {"text2img": "WanPipeline"}
    schedulers = {"unipc": ("UniPCMultistepScheduler", {})}

    def components(self, dtype: torch.dtype) -> dict[str, Any]:
        from diffusers import AutoencoderKLWan

        return {"vae": AutoencoderKLWan.from_pretrained(str(locate(self.spec)), subfolder="vae",
                                                        torch_dtype=torch.float32)}

    def prepare(self, pipe):
        pipe.vae.to(torch.float32)
        return pipe

    def decode(self, pipe, latents, kwargs, loaded):
        return decoding.wan_latents(pipe, latents)


class WanI2VBackend(AnimatesSource, WanBackend):
    """Wan 2.2 image to video (`local:wan2.2-i2v`): the source image is the first frame, fitted to the
    menu size nearest its aspect, not stretched. The A14B experts take the image's latents beside the
    noise, and give back plain latents: they decode as Wan 2.1's do."""

    pipelines = {"image2video": "WanImageToVideoPipeline"}

    @property
    def latent_output(self) -> bool:
        """Two stages, except in Wan 2.2 TI2V-5B's layout (`expand_timesteps`), whose pipeline blends the
        source's first-frame latents into the output before it decodes."""
        pipe = self._loaded.pipe if self._loaded is not None else None
        return not getattr(getattr(pipe, "config", None), "expand_timesteps", False)

    def per_image(self, jobs) -> bool:
        """One source image and num_videos_per_prompt = n: the pipeline takes no list of images (it
        repeats the image's latents for each video itself); image2video requests are never batched
        together (batch_key), so no list ever arises."""
        return False

    def call_kwargs(self, request, inputs, loaded) -> dict[str, Any]:
        return {**super().call_kwargs(request, inputs, loaded), "image": inputs.source}
