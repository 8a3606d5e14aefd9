"""`local:NAME` → the back end that runs NAME's weights on this machine. One family per file;
each module is imported only when its model is asked for, so naming a model costs nothing."""
from __future__ import annotations

import importlib

from agent.errors import ConfigError

# name -> "module:factory"; factory(name) -> ImageBackend / VideoBackend
IMAGE_MODELS: dict[str, str] = {
    "shapes": "local_models.shapes.backend:ShapesBackend",
}
VIDEO_MODELS: dict[str, str] = {}


def _load(table: dict[str, str], kind: str, name: str):
    if name not in table:
        raise ConfigError(f"unknown local {kind} model {name!r}; known: {', '.join(sorted(table)) or 'none'}")
    module_name, _, attr = table[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)(name)


def load_image_backend(name: str):
    return _load(IMAGE_MODELS, "image", name)


def load_video_backend(name: str):
    return _load(VIDEO_MODELS, "video", name)
