"""A request checked against a local model before any weights load: the task, size, steps, strength,
scheduler, LoRAs and the images an edit needs, each bad input a one-line InputError."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

from PIL import Image

from agent.core.artifacts import load_image
from agent.core.errors import InputError
from agent.core.types import GenerationRequest
from local_models import inpainting
from local_models.specs import SPECS, ModelSpec
from local_models.weights import find, locate


def steps_for(steps: int, strength: float) -> int:
    """The fewest steps, at least `steps`, that leave an edit at `strength` a denoising step:
    img2img and inpainting run int(steps × strength) of them (diffusers' get_timesteps)."""
    while int(steps * strength) < 1:
        steps += 1
    return steps



@dataclass
class Inputs:
    """A request checked against the model, with its images loaded."""

    task: str
    width: int
    height: int
    steps: int
    guidance: float
    scheduler: str | None
    source: Image.Image | None = None
    mask: Image.Image | None = None
    style: Image.Image | None = None
    loras: list[tuple[str, float]] = field(default_factory=list)
    strength: float | None = None
    # an inpaint's mask, blurred, and the box inpainted at full size (local_models/inpainting.py)
    blurred: Image.Image | None = None
    blur: int = 0
    crop: tuple[int, int, int, int] | None = None
    hook: Any = None  # the caller's step hook (agent.core.progress), read on its thread: the owner's has none


class InputChecks:
    """The checks of DiffusersBackend (it sets `spec`, `info` and `base_task`)."""

    def check_inputs(self, request: GenerationRequest, task: str) -> Inputs:
        spec, name = self.spec, self.info.name
        if task == "text2img" and not spec.text2img:
            raise InputError(f"{name} only edits images ({', '.join(spec.edits)}): give it a source image")
        if task != "text2img" and task not in spec.edits:
            raise InputError(f"{name} cannot do {task}; it supports {', '.join(spec.edits) or 'no edits'}")
        check_request_options(request, spec, name, "images")
        if request.strength is not None and not 0 < request.strength <= 1:
            raise InputError(f"strength must be in (0, 1], not {request.strength}")
        steps = request.steps or spec.steps
        inputs = Inputs(task, *spec.sizes[0], steps, spec.guidance if request.guidance is None else request.guidance,
                        request.scheduler or spec.scheduler, loras=self.check_loras(request))
        if request.width or request.height:
            size = (request.width or spec.sizes[0][0], request.height or spec.sizes[0][1])
            if size not in spec.sizes and task == "text2img":
                menu = ", ".join(f"{w}×{h}" for w, h in spec.sizes)
                raise InputError(f"size {size[0]}×{size[1]} is not on {name}'s menu: {menu}")
            inputs.width, inputs.height = size
        if request.extra.get("style_image"):
            if "ip-adapter" not in spec.edits:
                raise InputError(f"{name} has no IP-Adapter for a style reference")
            inputs.style = load_image(request.extra["style_image"])
        if task == "text2img":
            return inputs
        if request.source_image is None:
            raise InputError(f"{task} needs a source image")
        inputs.source = load_image(request.source_image)
        inputs.width, inputs.height = self.work_size(inputs.source.size)
        if task == "inpaint":
            if request.mask is None:
                raise InputError("inpainting needs a mask (white where the image should change)")
            inputs.mask = load_image(request.mask).convert("L")
            if inputs.mask.size != inputs.source.size:
                raise InputError(f"the mask is {inputs.mask.size[0]}×{inputs.mask.size[1]} but the image is "
                                 f"{inputs.source.size[0]}×{inputs.source.size[1]}; they must match")
        if task in ("img2img", "inpaint"):
            inputs.strength = request.strength or spec.strength
            if request.steps is None:  # a 1-step turbo model at strength 0.5 needs 2 steps to denoise at all
                inputs.steps = steps_for(steps, inputs.strength)
            elif int(steps * inputs.strength) < 1:
                raise InputError(f"strength {inputs.strength} × {steps} steps leaves no denoising step; "
                                 f"use at least {steps_for(steps, inputs.strength)} steps, or a higher strength")
        if task == "instruct" and not (request.instruction or request.prompt):
            raise InputError("an instruction edit needs an instruction")
        if task == "inpaint":
            inputs = inpainting.prepare(inputs, request.extra, self.crops_masks())
        return inputs

    def crops_masks(self) -> bool:
        """Whether the family's inpainting pipeline takes `padding_mask_crop` (FLUX.1 Fill does not)."""
        from local_models.pipeline_cache import call_parameters, pipeline_class

        return "padding_mask_crop" in call_parameters(pipeline_class(self.pipelines["inpaint"]))

    def check_loras(self, request: GenerationRequest) -> list[tuple[str, float]]:
        """`extra.loras`: {path or HF id: weight}; each must be on this machine."""
        loras = request.extra.get("loras") or {}
        if loras and "lora" not in self.spec.edits:
            raise InputError(f"{self.info.name} does not take LoRA adapters")
        checked = []
        for source, weight in loras.items():
            path = Path(source).expanduser()
            if not path.exists() and find(ModelSpec(source, source, kind="aux")) is None:
                raise InputError(f"LoRA {source} not found (a .safetensors file, a folder, or a cached HF id)")
            checked.append((str(path) if path.exists() else source, float(weight)))
        return checked

    def edit_task(self, request: GenerationRequest) -> str:
        if self.base_task == "instruct" and request.mask is not None:
            # an instruction model repaints where it sees fit: a mask would be silently ignored
            raise InputError(f"{self.info.name} edits by instruction and takes no mask: "
                             "describe the change in the instruction, or use an inpainting model")
        if request.instruction or self.base_task == "instruct":
            return "instruct"
        if request.mask is not None:
            return "inpaint"
        if request.extra.get("control"):
            return f"controlnet-{request.extra['control']}"
        return "img2img"

    def work_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The size an edit runs at: the source's, shrunk to the model's largest area if bigger,
        rounded down to the model's multiple. The result is resized back to the source's size."""
        w, h = size
        scale = min(1.0, (max(a * b for a, b in self.spec.sizes) / (w * h)) ** 0.5)
        m = self.spec.multiple
        return max(m, int(w * scale) // m * m), max(m, int(h * scale) // m * m)

    def check_weights(self, request: GenerationRequest, inputs: Inputs) -> None:
        """The weights that go with the model for this request are here (else a ConfigError naming
        them), checked before the model itself loads."""
        roles = [inputs.task] if inputs.task.startswith("controlnet-") else []
        roles += ["ip-adapter"] * (inputs.style is not None) + ["refiner"] * bool(request.extra.get("refiner"))
        for role in roles:
            locate(SPECS[self.spec.aux[role]])
        if inputs.task == "controlnet-depth" and not request.extra.get("control_image"):
            locate(SPECS["depth-estimator"])


def check_request_options(request: GenerationRequest, spec, name: str, unit: str) -> None:
    """The checks every family shares, images or clips: negative prompt, how many, scheduler."""
    if request.negative_prompt and not spec.negative:
        raise InputError(f"{name} does not take a negative prompt")
    if request.n > spec.max_n:
        raise InputError(f"{name} makes at most {spec.max_n} {unit} per call, not {request.n}")
    if request.scheduler and request.scheduler not in spec.schedulers:
        raise InputError(f"unknown scheduler {request.scheduler!r} for {name}; "
                         f"choose from {', '.join(spec.schedulers) or 'none'}")
