"""Control images for ControlNet: canny edges (OpenCV) and depth maps (a depth-estimation model)."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
from PIL import Image

from local_models.specs import SPECS
from local_models.weights import locate


def canny(image: Image.Image, options: dict[str, Any]) -> Image.Image:
    import cv2

    edges = cv2.Canny(np.asarray(image.convert("L")), int(options.get("canny_low", 100)),
                      int(options.get("canny_high", 200)))
    return Image.fromarray(np.stack([edges] * 3, axis=-1))


@functools.cache
def _depth_estimator():
    from transformers import pipeline

    return pipeline("depth-estimation", model=str(locate(SPECS["depth-estimator"])))


def depth(image: Image.Image) -> Image.Image:
    return _depth_estimator()(image)["depth"].convert("RGB").resize(image.size)
