"""Stable Diffusion 3 family: `local:sd3-medium` (flow matching, three text encoders)."""
from __future__ import annotations

import os
from typing import Any

from local_models.flux import FlowBackend


class SD3Backend(FlowBackend):
    pipelines = {
        "text2img": "StableDiffusion3Pipeline",
        "img2img": "StableDiffusion3Img2ImgPipeline",
        "inpaint": "StableDiffusion3InpaintPipeline",
    }

    def components(self, dtype) -> dict[str, Any]:
        """ATELIER_DROP_T5=1: no third text encoder (T5-XXL), the memory it takes given back for a
        little prompt adherence on long prompts (as Stability's SD3 guide shows)."""
        return {"text_encoder_3": None, "tokenizer_3": None} if os.environ.get("ATELIER_DROP_T5") == "1" else {}
