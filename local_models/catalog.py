"""`local:NAME` → the back end that runs NAME's weights on this machine. One family per file;
each module is imported only when its model is asked for, so naming a model costs nothing."""
from __future__ import annotations

import importlib

from agent.core.errors import ConfigError

# name -> "module:factory"; factory(name) -> ImageBackend / VideoBackend
IMAGE_MODELS: dict[str, str] = {
    "shapes": "local_models.shapes.backend:ShapesBackend",
    "sd-turbo": "local_models.sd:SDBackend",
    "sd15": "local_models.sd:SDBackend",
    "instruct-pix2pix": "local_models.sd:SDBackend",
    "sdxl": "local_models.sdxl:SDXLBackend",
    "sdxl-turbo": "local_models.sdxl:SDXLBackend",
    "flux-schnell": "local_models.flux:FluxBackend",
    "flux-dev": "local_models.flux:FluxBackend",
    "sd3-medium": "local_models.sd3:SD3Backend",
    "sd3.5-large": "local_models.sd3:SD3Backend",
    "sd3.5-large-turbo": "local_models.sd3:SD3Backend",
    "sd3.5-medium": "local_models.sd3:SD3Backend",
    "flux-fill": "local_models.flux_edit:FluxFillBackend",
    "flux-kontext": "local_models.flux_edit:FluxKontextBackend",
    "qwen-image": "local_models.qwen:QwenImageBackend",
    "qwen-image-edit": "local_models.qwen:QwenImageBackend",
}
VIDEO_MODELS: dict[str, str] = {
    "shapes-video": "local_models.shapes.video_backend:ShapesVideoBackend",
    "shapes-animate": "local_models.shapes.animate_backend:ShapesAnimateBackend",
    "svd": "local_models.svd:SVDBackend",
    "svd-xt": "local_models.svd:SVDBackend",
    "cogvideox-2b": "local_models.cogvideox:CogVideoXBackend",
    "wan-1.3b": "local_models.wan:WanBackend",
    "wan2.2-t2v": "local_models.wan:WanBackend",
    "wan2.2-i2v": "local_models.wan:WanI2VBackend",
    "ltx-video": "local_models.ltx:LTXBackend",
}


def _load(table: dict[str, str], kind: str, name: str):
    if name not in table:
        raise ConfigError(f"unknown local {kind} model {name!r}; known: {', '.join(sorted(table)) or 'none'}")
    module_name, _, attr = table[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)(name)


def load_image_backend(name: str):
    return _load(IMAGE_MODELS, "image", name)


def load_video_backend(name: str):
    return _load(VIDEO_MODELS, "video", name)
