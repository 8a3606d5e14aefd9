"""A run's image settings, what A1111 and ComfyUI call "advanced settings": denoising steps, guidance
(CFG scale), size and sampler. One definition: `RunOptions` takes these fields (limits and words) from
`ImageSettings`, and a `Brief` carries them to the director, whose tools put them into every image
request they make (the user's setting over the director's choice, `over`). None is the model's default.

Each is checked before anything runs against what the image model declares it takes (its ModelInfo:
`steps_range`, `guidance_range`, `sizes`, `schedulers`), so a back end that cannot honour a setting
refuses the run in one line rather than ignoring it."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from agent.core import limits
from agent.core.errors import InputError

NAMES = ("steps", "guidance", "size", "sampler")
SIZE = re.compile(r"^\s*(\d{1,5})\s*[x×X]\s*(\d{1,5})\s*$")


def checked(value: str | None, info: ValidationInfo) -> str | None:
    """A size written as WIDTHxHEIGHT ("512 x 512" -> "512x512") or a sampler's name, or
    ValueError; a field validator of every model that takes these fields."""
    if value is None:
        return None
    if info.field_name == "sampler":
        if not value.strip():
            raise ValueError("empty: name a sampler or leave it out for the model's default")
        return limits.text("scheduler", value.strip())
    match = SIZE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not WIDTHxHEIGHT, e.g. 512x512")
    width, height = int(match[1]), int(match[2])
    if not (8 <= width <= 8192 and 8 <= height <= 8192):
        raise ValueError(f"{width}x{height}: each side must be 8 to 8192 pixels")
    return f"{width}x{height}"


class ImageSettings(BaseModel):
    """What the user fixed for every image of a run; None: the model's default (or the director's choice)."""

    model_config = ConfigDict(extra="forbid")
    steps: int | None = Field(None, ge=1, le=500, description="denoising steps of each image (default: the "
                              "model's, or what the director picks)")
    guidance: float | None = Field(None, ge=0, le=50, description="guidance (CFG) scale (default: the model's)")
    size: str | None = Field(None, description="image size WIDTHxHEIGHT from the model's size menu, e.g. "
                             "512x512 (default: the model's first)")
    sampler: str | None = Field(None, description="sampler (scheduler) name the model offers, e.g. euler a "
                                "(default: the model's)")

    _checked = field_validator("size", "sampler")(checked)

    @property
    def width_height(self) -> tuple[int, int] | None:
        return None if self.size is None else tuple(int(x) for x in self.size.split("x"))  # type: ignore[return-value]

    def given(self) -> dict[str, Any]:
        """The settings the user set, by name."""
        return {k: v for k, v in self.model_dump().items() if v is not None}

    # ---- what the model takes ---------------------------------------------------------------------
    def problem(self, info) -> str | None:
        """Why the image model (its ModelInfo) cannot honour these settings, in one line naming the
        setting and what the model takes ("steps: local:shapes takes 1..100"); None when it can."""
        name = info.name
        for setting, span, lacking in (("steps", info.steps_range, "chooses its own denoising steps (it takes no "
                                        "steps setting)"), ("guidance", info.guidance_range, "has no guidance scale to set")):
            value = getattr(self, setting)
            if value is not None and span is None:
                return f"{setting}: {name} {lacking}"
            if value is not None and not span[0] <= value <= span[1]:
                return f"{setting}: {name} takes {span[0]:g}..{span[1]:g}, not {value:g}"
        if self.size is not None and self.width_height not in [tuple(s) for s in info.sizes]:
            return f"size: {name} makes {', '.join(f'{w}x{h}' for w, h in info.sizes)}, not {self.size}"
        if self.sampler is not None:
            if not info.schedulers:
                return f"sampler: {name} has one sampler of its own (it takes no sampler setting)"
            if self.sampler not in info.schedulers:
                return f"sampler: {name} takes {', '.join(info.schedulers)}, not {self.sampler!r}"
        return None

    def used(self, info) -> dict[str, Any]:
        """The settings with the model's declared defaults where the user set none (what a run records
        as its options); None where the model declares none (a service that chooses its own steps)."""
        width, height = info.sizes[0] if info.sizes else (None, None)
        return {"steps": self.steps if self.steps is not None else info.default_steps,
                "guidance": self.guidance if self.guidance is not None else info.default_guidance,
                "size": self.size or (f"{width}x{height}" if width else None),
                "sampler": self.sampler or info.default_scheduler}

    # ---- into a request --------------------------------------------------------------------------
    def over(self, request, info, *, size: bool = True):
        """`request` (a GenerationRequest) with the user's settings over what the director chose, or
        InputError when the model it goes to (`info`: another than the run's, for an edit that names
        one) cannot honour them; `size` False for an edit, which keeps its source image's size."""
        settings = self if size else self.model_copy(update={"size": None})
        if problem := settings.problem(info):
            raise InputError(f"bad run options: {problem}")
        update: dict[str, Any] = {"steps": self.steps, "guidance": self.guidance, "scheduler": self.sampler}
        if size and self.width_height is not None:
            update["width"], update["height"] = self.width_height
        update = {k: v for k, v in update.items() if v is not None}
        return request.model_copy(update=update) if update else request
